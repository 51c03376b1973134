"""The S3 provider's read buffer reaches aiohttp (aiobotocore has no option for it)."""

from __future__ import annotations

import pytest

from proxy import config
from proxy.storage.s3.backend import S3Storage
from tests.conftest import MotoServer


@pytest.mark.parametrize("read_buffer", [1 << 16, 1 << 20])
async def test_the_configured_read_buffer_is_the_one_responses_use(
    moto: MotoServer, read_buffer: int
) -> None:
    bucket = moto.new_bucket()
    data = bytes(range(256)) * 16 * 1024  # 4 MiB
    moto.client().put_object(Bucket=bucket, Key="cam/clip.mp4", Body=data)
    table = moto.provider(bucket, read_buffer_bytes=read_buffer)
    settings = config.parse(
        {"signing": {"key": "k" * 40}, "providers": {"s3": table}}, "test.toml", {}
    )
    storage = S3Storage(settings.providers["s3"])  # type: ignore[arg-type]
    await storage.start()
    try:
        response = await storage.client.get_object(Bucket=bucket, Key="cam/clip.mp4")
        body = response["Body"]
        try:
            # aiohttp's reader of this response pauses the socket at twice its buffer.
            assert body._raw_stream.content._high_water == 2 * read_buffer  # type: ignore[attr-defined]
            assert await body.read() == data
        finally:
            body.close()
    finally:
        await storage.close()
