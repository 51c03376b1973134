"""``[providers.NAME]`` with ``kind = "azure"``: Azure Blob Storage, or Azurite."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal

from proxy.fields import Table, string
from proxy.storage.settings import RetryingProvider


@dataclass(frozen=True, slots=True)
class AzureProvider(RetryingProvider):
    container: str = field(metadata=string(required=True))
    # connection_string, or account_name and account_key.
    account_name: str | None = field(default=None, metadata=string(optional=True))
    account_key: str | None = field(default=None, repr=False, metadata=string(optional=True))
    connection_string: str | None = field(default=None, repr=False, metadata=string(optional=True))
    kind: Literal["azure"] = "azure"

    def checked(self, t: Table) -> AzureProvider:
        if importlib.util.find_spec("azure.storage.blob") is None:
            t.problem(t.key("kind"), "azure needs the azure extra: pip install 'proxy[azure]'")
        named = self.account_name is not None and self.account_key is not None
        if self.connection_string is None and not named:
            t.problem(t.key(), "set connection_string, or account_name and account_key")
        return self
