"""Training and evaluation per task, on the live path. Importing this package registers the built-in
tasks (tasks/registry.py)."""

from tasks import deep, face, fight, normality, objects, skimming, tamper, weapon  # noqa: F401  (registration)
