"""The models a kiosk may load, by name: each model kind registers how it is loaded from a model
folder (its card and files checked first), so `run`, `demo`, `bench` and `evaluate` find every
trained model by looping here, never by naming one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    name: str                                              # the card's name, and the key detectors read it by
    load: Callable[[str], tuple[Any, dict]]                # model folder -> (model, card as a dict)
    feature_keys: tuple[str, ...] = ()                     # config sections that shape the model's inputs


_MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    return _MODELS.add(spec.name, spec)


def unregister_model(name: str) -> None:
    _MODELS.remove(name)


def model_specs() -> list[ModelSpec]:
    return _MODELS.values()
