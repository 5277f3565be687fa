"""Describe a scenario's parameters for people: form fields and error messages that
say what is allowed. Read from the pydantic models, so bounds live in one place."""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from app.scenarios.base import Params


@dataclass(frozen=True)
class FieldSpec:
    """One form field."""

    name: str
    label: str
    help: str
    kind: str  # "int", "float", "bool", "choice", "int-list"
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def allowed(self) -> str:
        """The allowed values, in words."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        noun = {"int": "a whole number", "float": "a number", "int-list": "a list of whole numbers"}[
            self.kind
        ]
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{noun} of at least {self.minimum:g}"
        return noun

    @property
    def step(self) -> str:
        return "1" if self.kind == "int" else "any"


def field_specs(model: type[Params]) -> list[FieldSpec]:
    return [_spec(name, info) for name, info in model.model_fields.items()]


def _bounds(metadata: Sequence[Any]) -> tuple[float | None, float | None]:
    minimum = maximum = None
    for meta in metadata:
        if isinstance(meta, FieldInfo):  # Annotated[int, Field(ge=...)]: its own metadata
            return _bounds(meta.metadata)
        if isinstance(meta, annotated_types.Ge | annotated_types.Gt):
            minimum = float(meta.ge if isinstance(meta, annotated_types.Ge) else meta.gt)  # type: ignore[arg-type]
        if isinstance(meta, annotated_types.Le | annotated_types.Lt):
            maximum = float(meta.le if isinstance(meta, annotated_types.Le) else meta.lt)  # type: ignore[arg-type]
    return minimum, maximum


def _spec(name: str, info: FieldInfo) -> FieldSpec:
    minimum, maximum = _bounds(info.metadata)
    annotation = info.annotation
    if typing.get_origin(annotation) is list:  # a list's bounds are those of each item
        (item,) = typing.get_args(annotation)
        minimum, maximum = _bounds(getattr(item, "__metadata__", ()))
    choices: tuple[str, ...] = ()
    if typing.get_origin(annotation) is typing.Literal:
        kind, choices = "choice", tuple(str(c) for c in typing.get_args(annotation))
    elif annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "int"
    elif annotation is float:
        kind = "float"
    else:
        kind = "int-list"
    label = info.title or name.replace("_", " ")
    return FieldSpec(name, label, info.description or "", kind, info.default, minimum, maximum, choices)


def explain(model: type[Params], error: ValidationError) -> list[dict[str, str]]:
    """One {field, message} per problem, each saying what is allowed."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "params",
            "message": describe(model, item["loc"], item),
        }
        for item in error.errors()
    ]


def describe(model: type[Params], loc: Sequence[str | int], item: Mapping[str, Any]) -> str:
    """What is wrong with the parameter at `loc` (pydantic's error `item`), and what
    is allowed there: the bounds come from the model, so they are never restated."""
    specs = {spec.name: spec for spec in field_specs(model)}
    spec = specs.get(str(loc[0])) if loc else None
    if item["type"] == "extra_forbidden":
        return f"unknown parameter; allowed: {', '.join(specs) or 'none'}"
    if spec is not None:
        return f"{item['msg']}; allowed: {spec.allowed}"
    return str(item["msg"])


def parse(model: type[Params], raw: Mapping[str, Any], *, from_text: bool = False) -> Params:
    """Validate values; raises pydantic's ValidationError. JSON values are taken as
    they are; `from_text` values (a form's strings: "3", "true", "1, 2") are converted."""
    return model.model_validate(dict(raw), strict=not from_text)
