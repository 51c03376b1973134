"""Backends, one module each, behind the ``Storage`` protocol of ``base``."""

from __future__ import annotations

from proxy.config import LocalProvider, ProviderSettings
from proxy.storage.base import ByteRange, ObjectMeta, Storage

__all__ = ["ByteRange", "ObjectMeta", "Storage", "start_storage"]


async def start_storage(settings: ProviderSettings, chunk_size: int) -> Storage:
    """A started backend for one configured provider."""
    if isinstance(settings, LocalProvider):
        from proxy.storage.local import LocalStorage

        return LocalStorage(settings.name, settings.root, chunk_size)
    from proxy.storage.s3 import S3Storage

    s3 = S3Storage(settings, chunk_size)
    await s3.start()
    return s3
