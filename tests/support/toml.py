"""A tiny TOML writer for the configs the tests build (tables of scalars and lists; a table
inside a list is written inline)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def dumps(doc: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _table(doc, [], lines)
    return "\n".join(lines) + "\n"


def _table(t: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in t.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in t.items() if isinstance(v, Mapping)}
    if path and scalars:
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _table(value, [*path, key], lines)


def _key(key: str) -> str:
    return (
        key
        if key.replace("-", "").replace("_", "").isalnum() and key.isascii()
        else json.dumps(key)
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
