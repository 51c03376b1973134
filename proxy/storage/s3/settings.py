"""``[providers.NAME]`` with ``kind = "s3"``: AWS S3 or a store that speaks its API."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from proxy.fields import Table, choice, integer, string
from proxy.storage.settings import RetryingProvider

_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True, slots=True)
class S3Provider(RetryingProvider):
    bucket: str = field(metadata=string(required=True))
    region: str = field(default="us-east-1", metadata=string())
    # Both or neither; neither: botocore's default chain (an IAM role, ...).
    access_key_id: str | None = field(default=None, repr=False, metadata=string(optional=True))
    secret_access_key: str | None = field(default=None, repr=False, metadata=string(optional=True))
    session_token: str | None = field(default=None, repr=False, metadata=string(optional=True))
    # Not set: path with an endpoint_url (``checked``), else auto.
    addressing_style: Literal["auto", "path", "virtual"] = field(
        default="auto",
        metadata=choice(("auto", "path", "virtual"), wrong="must be auto, path or virtual"),
    )
    # aiohttp pauses reading a body at twice this: more is faster, but a slow client holds it.
    read_buffer_bytes: int = field(default=1 << 16, metadata=integer(low=1 << 14, high=1 << 24))
    kind: Literal["s3"] = "s3"

    def checked(self, t: Table) -> S3Provider:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            t.problem(t.key(), "set both access_key_id and secret_access_key, or neither")
        if not _REGION.fullmatch(self.region):
            t.problem(
                t.key("region"), "must look like us-east-1 (lowercase letters, digits, dashes)"
            )
        if self.endpoint_url and not t.given("addressing_style"):
            return replace(self, addressing_style="path")
        return self
