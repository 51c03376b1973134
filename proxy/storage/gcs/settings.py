"""``[providers.NAME]`` with ``kind = "gcs"``: Google Cloud Storage, or an emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from proxy.fields import Table, string
from proxy.storage.settings import RemoteProvider


@dataclass(frozen=True, slots=True)
class GcsProvider(RemoteProvider):
    bucket: str = field(metadata=string(required=True))
    # A service-account JSON document, read into credentials_json (``checked``).
    credentials_file: str | None = field(
        default=None, compare=False, metadata=string(optional=True)
    )
    # A service-account JSON document; None: anonymous (an emulator).
    credentials_json: str | None = field(default=None, repr=False, metadata=string(optional=True))
    kind: Literal["gcs"] = "gcs"

    def checked(self, t: Table) -> GcsProvider:
        credentials, path = self.credentials_json, self.credentials_file
        if path and credentials:
            t.problem(t.key(), "set credentials_file or credentials_json, not both")
        elif path:
            try:
                credentials = Path(path).read_text()
            except OSError as exc:
                t.problem(t.key("credentials_file"), f"cannot be read ({exc.strerror})")
        if credentials is not None:
            try:
                doc = json.loads(credentials)
                if not isinstance(doc, dict) or "client_email" not in doc:
                    raise ValueError
            except ValueError:
                key = "credentials_file" if path else "credentials_json"
                t.problem(t.key(key), "must be a service-account JSON document")
        elif self.endpoint_url is None:
            t.problem(t.key(), "Google's API needs credentials_file or credentials_json")
        return replace(self, credentials_json=credentials)
