"""A name -> object table that packages fill when they are imported (detectron2's ``Registry``).

The core looks things up by name (``NETWORKS.get("rfcn")``) and never imports
the package that registered them, so the tasks (``rfcn``, ``fpn``, ``deeplab``)
sit above the core and the core knows none of them.
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, Optional, Tuple, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind; registering a name twice is an error (two tasks claiming one name)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._objects: Dict[str, T] = {}

    def register(self, name: str, obj: Optional[T] = None):
        """``register(name, obj)``, or ``@register(name)`` as a decorator; returns ``obj``."""
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._objects and self._objects[name] is not obj:
            raise KeyError(f"{self.kind} {name!r} is already registered ({self._objects[name]!r})")
        self._objects[name] = obj
        return obj

    def get(self, name: str) -> T:
        if name not in self._objects:
            raise KeyError(f"no {self.kind} named {name!r}; registered: {sorted(self._objects)}")
        return self._objects[name]

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(self._objects)

    def items(self) -> Tuple[Tuple[str, T], ...]:
        return tuple(self._objects.items())

    def find(self, predicate: Callable[[T], bool]) -> Optional[T]:
        """The first registered object (in registration order) for which ``predicate`` holds."""
        return next((o for o in self._objects.values() if predicate(o)), None)
