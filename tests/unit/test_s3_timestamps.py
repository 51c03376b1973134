"""The S3 provider's timestamp parser agrees with botocore's, only faster."""

from __future__ import annotations

import pytest
from botocore.utils import parse_timestamp

from proxy.storage.s3.botocore import timestamp as _timestamp


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 23 Nov 2026 08:00:00 GMT",  # Last-Modified, an HTTP-date
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "2026-11-23T08:00:00.000Z",  # ListObjects' LastModified, ISO 8601
        "2026-11-23T08:00:00Z",
        "2026-11-23T10:00:00+02:00",
        "2026-11-23T08:00:00",  # no zone: botocore's rules decide
        "23 Nov 2026 08:00:00 +0000",
        "1700000000",
    ],
)
def test_same_instant_as_botocore(value: str) -> None:
    ours, theirs = _timestamp(value), parse_timestamp(value)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


def test_garbage_is_botocores_to_refuse() -> None:
    with pytest.raises(ValueError, match="Invalid timestamp"):
        parse_timestamp("not a date")
    with pytest.raises(ValueError, match="Invalid timestamp"):
        _timestamp("not a date")
