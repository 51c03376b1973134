"""How a settings dataclass declares its configuration keys: kind, default and bounds, once.

A field that is a key carries a ``Key`` in its metadata, written with the helpers
below, and its default is the field's own::

    max_connections: int = field(default=64, metadata=integer(low=1, high=4096))

``proxy.config.reader`` reads a TOML table by walking these fields, so the dataclass
is the one place that says what a key is called, what it defaults to and what it may
be. A field without a ``Key`` is not a key (a provider's ``name`` is its table's
name). Rules between keys are the class's own ``checked(table)`` method, given a
``Table``: it reports problems and returns the settings, completed.

A leaf (the standard library only): config's sections and each backend's settings
import it, and config imports those.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass
from typing import Any, Protocol

_KEY = "proxy.key"


class Kind(enum.Enum):
    STRING = enum.auto()  # "env:NAME" and "enc:v1:..." resolved
    STRINGS = enum.auto()  # a list of strings, each resolved; a tuple
    INTEGER = enum.auto()  # between ``low`` and ``high``
    BOOLEAN = enum.auto()
    SECONDS = enum.auto()  # a timeout: seconds or a Go duration, above 0, at most an hour
    TTL = enum.auto()  # a lifetime: seconds or a Go duration, whole seconds rounded up
    NETWORKS = enum.auto()  # a list of IP addresses or CIDRs
    URL = enum.auto()  # an http(s) URL, or None
    CHOICE = enum.auto()  # one of ``choices``
    TABLES = enum.auto()  # a list of tables, each read as the dataclass ``of``; a tuple


@dataclass(frozen=True, slots=True)
class Key:
    kind: Kind
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()
    ignore_case: bool = False  # a choice in any case reads as it is spelled in ``choices``
    wrong_choice: str = ""  # the problem of a value not among ``choices``
    required: bool = False  # an empty string is a problem
    optional: bool = False  # an empty string reads as None
    convert: Callable[[str], object] | None = None  # applied to the string (or to each item)
    env: str = ""  # a variable that, when set, replaces the key (taken as it is)
    env_if_empty: bool = True  # whether a variable that is set but empty replaces it too
    of: type[Any] | None = None  # TABLES: the settings dataclass each item is read as
    shorthand: str = ""  # TABLES: an item may be a plain string, the value of this key


def key_of(spec: Field[Any]) -> Key | None:
    """The ``Key`` a dataclass field declares, or None when it is not a key."""
    key = spec.metadata.get(_KEY)
    return key if isinstance(key, Key) else None


def one_of(choices: tuple[str, ...]) -> str:
    return f"must be one of {', '.join(choices)}"


def string(
    *,
    required: bool = False,
    optional: bool = False,
    convert: Callable[[str], object] | None = None,
    env: str = "",
    env_if_empty: bool = True,
) -> Mapping[str, Key]:
    return {
        _KEY: Key(
            Kind.STRING,
            required=required,
            optional=optional,
            convert=convert,
            env=env,
            env_if_empty=env_if_empty,
        )
    }


def strings(*, convert: Callable[[str], object] | None = None) -> Mapping[str, Key]:
    return {_KEY: Key(Kind.STRINGS, convert=convert)}


def tables(of: type[Any], *, shorthand: str = "") -> Mapping[str, Key]:
    """A list of tables, each read (and checked) as ``of``; with ``shorthand``, an item may
    also be a plain string, read as ``{shorthand = item}`` and named as the item itself."""
    return {_KEY: Key(Kind.TABLES, of=of, shorthand=shorthand)}


def integer(*, low: int, high: int) -> Mapping[str, Key]:
    return {_KEY: Key(Kind.INTEGER, low=low, high=high)}


def boolean() -> Mapping[str, Key]:
    return {_KEY: Key(Kind.BOOLEAN)}


def seconds() -> Mapping[str, Key]:
    return {_KEY: Key(Kind.SECONDS)}


def ttl(*, env: str = "") -> Mapping[str, Key]:
    return {_KEY: Key(Kind.TTL, env=env)}


def networks() -> Mapping[str, Key]:
    return {_KEY: Key(Kind.NETWORKS)}


def url() -> Mapping[str, Key]:
    return {_KEY: Key(Kind.URL)}


def choice(
    choices: tuple[str, ...], *, ignore_case: bool = False, wrong: str | None = None
) -> Mapping[str, Key]:
    wrong = one_of(choices) if wrong is None else wrong
    return {_KEY: Key(Kind.CHOICE, choices=choices, ignore_case=ignore_case, wrong_choice=wrong)}


class Table(Protocol):
    """What a settings class's ``checked`` sees of the table it was read from."""

    @property
    def environ(self) -> Mapping[str, str]: ...

    def given(self, name: str) -> bool:
        """Whether key ``name`` was set (in the file or by its variable) and read well."""
        ...

    def key(self, name: str = "") -> str:
        """The full name of key ``name`` in the file; "" names the table itself."""
        ...

    def source(self, name: str) -> str:
        """Key ``name`` as it was read: the variable that replaced it, else ``key(name)``."""
        ...

    def problem(self, key: str, text: str) -> None:
        """Report ``text`` against ``key`` (a full name); loading then fails, listing all."""
        ...
