"""The stage-2 refiners (core/refiner.py). Importing this package registers the built-in ones."""

from pipeline.refiners import deep, normality, weapon  # noqa: F401  (registration)
