"""The models a kiosk may load, by name: each model kind registers how it is loaded from a model
folder (its card and files checked first), so `run`, `demo`, `bench` and `evaluate` find every
trained model by looping here, never by naming one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ModelSpec:
    name: str                                              # the card's name, and the key detectors read it by
    load: Callable[[str], tuple[Any, dict]]                # model folder -> (model, card as a dict)
    feature_keys: tuple[str, ...] = ()                     # config sections that shape the model's inputs


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _MODELS and _MODELS[spec.name] != spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _MODELS[spec.name] = spec
    return spec


def unregister_model(name: str) -> None:
    _MODELS.pop(name, None)


def model_specs() -> list[ModelSpec]:
    return list(_MODELS.values())
