"""The one generic reader: a TOML table into a settings dataclass, by walking its fields.

Each field's ``Key`` (``proxy.fields``) says how its value is read; a key the table
leaves out takes the field's default. Nothing raises: every problem is recorded,
named by its key, and the value it concerns falls back to its default, so one pass
finds them all and ``proxy.config.parse`` reports them at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from ipaddress import ip_network
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from proxy import sealing
from proxy.durations import parse_go_duration, parse_ttl
from proxy.fields import Key, Kind, Table, key_of

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ENV_PREFIX = "env:"

S = TypeVar("S", bound="DataclassInstance")

# What a key that has no default reads as when the table leaves it out.
_EMPTY: Mapping[Kind, object] = {Kind.STRINGS: (), Kind.NETWORKS: (), Kind.TABLES: ()}


class Reader:
    """Typed access to TOML values that records problems instead of raising."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[tuple[str, str]] = []

    def problem(self, key: str, text: str) -> None:
        self.problems.append((key, text))

    def only(self, t: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in t:
            if key not in allowed:
                self.problem(f"{where}.{key}" if where else key, "unknown key")

    def table(self, t: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = t.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        return value

    def subtables(self, t: Mapping[str, Any], where: str) -> list[tuple[str, Mapping[str, Any]]]:
        out: list[tuple[str, Mapping[str, Any]]] = []
        for name, value in t.items():
            if isinstance(value, dict):
                out.append((name, value))
            else:
                self.problem(f"{where}.{name}", "must be a table")
        return out

    def name(self, name: str, where: str) -> None:
        if not 1 <= len(name) <= 128 or not name.isprintable():
            self.problem(where, "names are 1-128 printable characters")

    def string(self, t: Mapping[str, Any], key: str) -> str:
        """One string key outside any dataclass (a provider's ``kind``); "" when absent."""
        return str(self._string(t.get(key.rsplit(".", 1)[-1], ""), key, "", resolve=True))

    def section(self, cls: type[S], t: Mapping[str, Any], where: str, **fixed: Any) -> S:
        """``cls`` read from table ``t`` (at ``where``), checked by its own ``checked``."""
        return self._checked(*self.read(cls, t, where, **fixed))

    def read(self, cls: type[S], t: Mapping[str, Any], where: str, **fixed: Any) -> tuple[S, Table]:
        """``cls`` from table ``t`` and what its rules need to see of it; ``fixed`` fills the
        fields that are not keys."""
        return self._read(cls, t, _View(self, where), fixed)

    def _read(
        self, cls: type[S], t: Mapping[str, Any], view: _View, fixed: Mapping[str, Any]
    ) -> tuple[S, _View]:
        keys = {spec.name: (spec, key) for spec in fields(cls) if (key := key_of(spec)) is not None}
        self.only(t, view.key(), tuple(keys))
        values = dict(fixed)
        for name, (spec, key) in keys.items():
            values[name] = self._field(spec, key, t, view)
        return cls(**values), view

    @staticmethod
    def _checked(settings: S, view: Table) -> S:
        checked = getattr(settings, "checked", None)
        if checked is None:
            return settings
        result: S = checked(view)
        return result

    def _field(self, spec: Field[Any], key: Key, t: Mapping[str, Any], view: _View) -> Any:
        default = _default(spec, key)
        name = spec.name
        override = self.environ.get(key.env) if key.env else None
        if override is not None and (override or key.env_if_empty):
            view.sources[name] = key.env
            raw, where, resolve = override, key.env, False
        elif name in t:
            raw, where, resolve = t[name], view.key(name), True
        else:
            return self._required(key, default, view.key(name))
        before = len(self.problems)
        value = self._value(key, raw, where, default, resolve)
        if len(self.problems) > before:
            return value  # already named as a problem: not "required" on top
        view.read_well.add(name)
        return self._required(key, value, where)

    def _required(self, key: Key, value: Any, where: str) -> Any:
        if key.required and not value:
            self.problem(where, "required")
        return value

    def _value(self, key: Key, raw: object, where: str, default: Any, resolve: bool) -> Any:
        kind = key.kind
        if kind is Kind.STRING or kind is Kind.URL or kind is Kind.CHOICE:
            text = self._string(raw, where, default, resolve)
            if not isinstance(text, str):
                return text  # the default: None, or a converted value
            if kind is Kind.URL:
                return self._url(text, where)
            if kind is Kind.CHOICE:
                return self._choice(key, text, where, default)
            if key.optional and not text:
                return None
            return key.convert(text) if key.convert else text
        if kind is Kind.STRINGS or kind is Kind.NETWORKS:
            items = self._strings(raw, where, resolve)
            if items is None:
                return default
            if kind is Kind.NETWORKS:
                return self._networks(items, where)
            return tuple(key.convert(item) if key.convert else item for item in items)
        if kind is Kind.INTEGER:
            return self._integer(raw, where, default, key.low, key.high)
        if kind is Kind.BOOLEAN:
            if not isinstance(raw, bool):
                self.problem(where, "must be true or false")
                return default
            return raw
        if kind is Kind.TTL:
            return self._ttl(raw, where, default, resolve)
        if kind is Kind.TABLES:
            return self._tables(key, raw, where, default)
        return self._seconds(raw, where, default, resolve)

    def _string(self, raw: object, where: str, default: Any, resolve: bool) -> Any:
        if not isinstance(raw, str):
            self.problem(where, "must be a string")
            return default
        return self._resolve(raw, where, default) if resolve else raw

    def _resolve(self, value: str, where: str, default: Any) -> Any:
        if value.startswith(ENV_PREFIX):
            var = value[len(ENV_PREFIX) :]
            if var not in self.environ:
                self.problem(where, f"environment variable {var} is not set")
                return default
            return self.environ[var]
        if value.startswith(sealing.PREFIX):
            master = self.environ.get(sealing.MASTER_KEY_ENV)
            if not master:
                self.problem(where, f"a sealed value needs {sealing.MASTER_KEY_ENV} to be set")
                return default
            try:
                return sealing.unseal(value, where, master)
            except sealing.SealError as exc:
                self.problem(where, str(exc))
                return default
        return value

    def _strings(self, raw: object, where: str, resolve: bool) -> list[str] | None:
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            self.problem(where, "must be a list of strings")
            return None
        if not resolve:
            return raw
        return [self._resolve(v, f"{where}[{i}]", "") for i, v in enumerate(raw)]

    def _tables(self, key: Key, raw: object, where: str, default: Any) -> tuple[Any, ...]:
        """Each item read as ``key.of``, named ``where[i]``; a shorthand string item is read as
        the table ``{key.shorthand = item}`` whose one key is named as the item itself."""
        what = "strings or tables" if key.shorthand else "tables"
        if not isinstance(raw, list) or key.of is None:
            spelled = f" (each one [[{where}]])" if isinstance(raw, dict) else ""
            self.problem(where, f"must be a list of {what}{spelled}")
            return tuple(default)
        items = []
        for i, item in enumerate(raw):
            at = f"{where}[{i}]"
            if isinstance(item, dict):
                view = _View(self, at)
            elif isinstance(item, str) and key.shorthand:
                item, view = {key.shorthand: item}, _View(self, at, whole=key.shorthand)
            else:
                self.problem(at, f"must be {'a string or ' if key.shorthand else ''}a table")
                continue
            items.append(self._checked(*self._read(key.of, item, view, {})))
        return tuple(items)

    def _networks(self, items: list[str], where: str) -> tuple[Any, ...]:
        networks = []
        for i, text in enumerate(items):
            try:
                networks.append(ip_network(text.strip(), strict=False))
            except ValueError:
                self.problem(f"{where}[{i}]", "must be an IP address or CIDR, e.g. 10.0.0.0/8")
        return tuple(networks)

    def _url(self, text: str, where: str) -> str | None:
        try:
            scheme = urlsplit(text).scheme
        except ValueError:  # e.g. "http://[x": an unclosed IPv6 bracket
            scheme = ""
        if text and scheme not in ("http", "https"):
            self.problem(where, "must be an http(s) URL")
        return text or None

    def _choice(self, key: Key, text: str, where: str, default: str) -> str:
        fold = str.lower if key.ignore_case else str
        for spelled in key.choices:
            if fold(spelled) == fold(text):
                return spelled
        self.problem(where, key.wrong_choice)
        return default

    def _integer(self, raw: object, where: str, default: int, low: int, high: int) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.problem(where, "must be an integer")
            return default
        if not low <= raw <= high:
            self.problem(where, f"must be between {low} and {high}")
            return default
        return raw

    def _ttl(self, raw: object, where: str, default: int | None, resolve: bool) -> int | None:
        if isinstance(raw, str) and resolve:
            before = len(self.problems)
            raw = self._resolve(raw, where, default)
            if len(self.problems) > before:
                return default
        try:
            return parse_ttl(raw)  # type: ignore[arg-type]
        except ValueError as exc:
            self.problem(where, str(exc))
            return default

    def _seconds(self, raw: object, where: str, default: float, resolve: bool) -> float:
        """A timeout: a number of seconds or a Go duration."""
        value = raw
        if isinstance(value, str):
            value = self._resolve(value, where, str(default)) if resolve else value
            if value.replace(".", "", 1).isdigit():
                value = float(value)
        if isinstance(value, str):
            try:
                value = parse_go_duration(value) / 1e9
            except ValueError as exc:
                self.problem(where, str(exc))
                return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(where, "must be a number of seconds or a duration like '30s'")
            return default
        if not (0 < value <= 3600) or math.isnan(value):
            self.problem(where, "must be more than 0 and at most one hour")
            return default
        return float(value)


def _default(spec: Field[Any], key: Key) -> Any:
    """The field's default; a field without one reads as empty (and ``required`` says so)."""
    if spec.default is not MISSING:
        return spec.default
    empty = _EMPTY.get(key.kind, "")
    return key.convert(empty) if key.convert and isinstance(empty, str) else empty


class _View:
    """``Table`` for one table being read: where it is, and which keys were given."""

    def __init__(self, reader: Reader, where: str, whole: str = "") -> None:
        self._reader = reader
        self._where = where
        self._whole = whole  # the one key of a shorthand item: named as the item itself
        self.sources: dict[str, str] = {}
        self.read_well: set[str] = set()

    @property
    def environ(self) -> Mapping[str, str]:
        return self._reader.environ

    def given(self, name: str) -> bool:
        return name in self.read_well

    def key(self, name: str = "") -> str:
        return f"{self._where}.{name}" if name and name != self._whole else self._where

    def source(self, name: str) -> str:
        return self.sources.get(name) or self.key(name)

    def problem(self, key: str, text: str) -> None:
        self._reader.problem(key, text)
