"""Trained models. Importing this package registers the model kinds a kiosk may load."""

from classifiers import (deep_store, face_store, fight_store, normality_store, object_store,  # noqa: F401
                         weapon_store)
