"""The task registry: each task name maps to its trainer, evaluator, cross-validator, the data
folder `train --task all` looks for, and the model it saves. `train`, `evaluate`, `export` and the
command line's task choices all loop over it; adding a task is one module plus its `register_task`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from core.registry import Registry


@dataclass(frozen=True)
class Task:
    name: str
    evaluate: Callable                       # (dataset, model_dir, out, cfg) -> metrics dict
    train: Callable | None = None            # (dataset, model_dir, cfg) -> card dict; None: nothing to train
    cross_validate: Callable | None = None   # (dataset, out, cfg, folds, seed) -> metrics dict
    layout: str | None = None                # its labelled folder inside a data root like ../shared/data
    model: str | None = None                 # the model name it saves (classifiers.registry)
    backend: str | None = None               # how that model is stored: arrays, skops, keras, tflite
    untrained: str = ""                      # why there is nothing to train, for `train`
    export: Callable | None = None           # (model_dir) -> card of the kiosk's export; for `export`
    adversarial: Callable | None = None      # (dataset, model_dir, out, cfg) -> result; `evaluate --adversarial`


_TASKS: Registry[Task] = Registry("task")


def register_task(task: Task) -> Task:
    return _TASKS.add(task.name, task)


def unregister_task(name: str) -> None:
    _TASKS.remove(name)


def tasks() -> list[Task]:
    import tasks as _builtin  # noqa: F401  (registers the built-in tasks)

    return _TASKS.values()


def get(name: str) -> Task | None:
    tasks()
    return _TASKS.get(name)
