"""``[providers.NAME]`` with ``kind = "local"``: a folder on this machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from proxy.fields import Table, string
from proxy.storage.settings import Provider


@dataclass(frozen=True, slots=True)
class LocalProvider(Provider):
    root: Path = field(metadata=string(convert=Path))  # absolute; must exist
    kind: Literal["local"] = "local"

    def checked(self, t: Table) -> LocalProvider:
        if not self.root.is_absolute():
            t.problem(t.key("root"), "must be an absolute path")
        elif not self.root.is_dir():
            t.problem(t.key("root"), f"{self.root} is not a directory")
        return self
