"""The bottom layer: what every other layer may import, importing nothing of ours.

User errors, configuration sections and their loader, events and their registry, the flags a
detector raises, the per-frame context, and the two plug-in interfaces (detectors and stage-2
refiners) with their registries.
"""
