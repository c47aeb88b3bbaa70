"""A named registry, in registration order: detectors, stage-2 refiners, model kinds and tasks each
keep one, so adding a thing is registering it and every list of such things is read from here."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register `item` as `name`; the same item again is a no-op, another one under that name an error."""
        known = self._items.get(name)
        if known is not None and known is not item and known != item:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._items[name] = item
        return item

    def remove(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def values(self) -> list[T]:
        return list(self._items.values())
