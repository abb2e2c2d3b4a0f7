"""A compression method: a NAME, the artefact formats it reads and writes, validated params, and one `apply`."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from suite.registry import Registry


class Method(ABC):
    NAME: ClassVar[str]
    INPUT_FORMATS: ClassVar[frozenset[str]]  # artefact formats of the parent this method can start from
    OUTPUT_FORMAT: ClassVar[str]
    Params: ClassVar[type]  # a frozen dataclass; its __post_init__ raises ValueError naming the bad field

    @classmethod
    def parse_params(cls, params: dict[str, Any]) -> Any:
        """Build the Params dataclass; unknown keys and bad values raise ValueError('<field>: <problem>')."""
        known = {f.name for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown parameter of method '{cls.NAME}' (known: {sorted(known)})")
        try:
            return cls.Params(**params)
        except TypeError as exc:
            raise ValueError(f"params: {exc}") from None

    @abstractmethod
    def apply(self, model: Any, params: Any) -> Any:
        """Return the compressed torch module built from the parent's module (which it may modify)."""


METHODS: Registry[type[Method]] = Registry("variant method")
