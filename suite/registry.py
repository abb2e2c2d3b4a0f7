"""One registry type: registration under the class's NAME, duplicate names raise, unknown names get "did you mean …".

A registry is declared beside the base class of what it holds, with the packages (or modules) that implement its kinds
(`plugins`). It imports them, every module of a package, the first time anyone looks a name up: a new kind is one new
file in its package, nothing registers by being imported from below, and no layer imports plugins for their side
effects.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        super().__init__(f"unknown {kind} '{name}'{hint} (known: {', '.join(sorted(known))})")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


class Registry(Generic[T]):
    """Maps names to classes (or functions) of one kind.

    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register
    ... class Square:
    ...     NAME = "square"
    >>> SHAPES.get("square").__name__
    'Square'
    >>> SHAPES.get("sqare")
    Traceback (most recent call last):
    ...
    suite.registry.UnknownNameError: unknown shape 'sqare'; did you mean 'square'? (known: square)
    """

    def __init__(self, kind: str, plugins: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.plugins = plugins  # packages or modules that register this registry's kinds, imported on first look-up
        self._items: dict[str, T] = {}
        self._loaded = not plugins

    def register(self, obj: T) -> T:
        """Decorator: register `obj` under its `NAME` (one spelling of the name, in the class itself)."""
        name = getattr(obj, "NAME", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{obj!r} has no NAME: a registered {self.kind} names itself with a NAME attribute")
        return self.add(name, obj)

    def add(self, name: str, obj: T) -> T:
        """Register a value that cannot carry a NAME (a metric record, a function): its name is given once, here."""
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name '{name}': {self._items[name]!r} and {obj!r}")
        self._items[name] = obj
        return obj

    def named(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`, for functions: `@GENERATORS.named("stress")`."""
        return lambda obj: self.add(name, obj)

    def load_plugins(self) -> None:
        """Import the modules that implement this registry's kinds (once; a package with all its modules)."""
        if self._loaded:
            return
        self._loaded = True
        for name in self.plugins:
            module = importlib.import_module(name)
            for found in pkgutil.walk_packages(getattr(module, "__path__", ()), prefix=f"{name}."):
                importlib.import_module(found.name)

    def get(self, name: str) -> T:
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._items)) from None

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._items)
