"""Backends, one module each, behind the ``Storage`` protocol of ``base``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.config import AzureProvider, GcsProvider, LocalProvider, ProviderSettings, Settings
from proxy.errors import ProxyError
from proxy.storage.base import ByteRange, ObjectMeta, Storage

if TYPE_CHECKING:
    from proxy.storage.azure import AzureStorage
    from proxy.storage.gcs import GcsStorage
    from proxy.storage.s3 import S3Storage

__all__ = ["ByteRange", "ObjectMeta", "Storage", "check_providers", "start_storage"]


async def start_storage(settings: ProviderSettings, chunk_size: int) -> Storage:
    """A started backend for one configured provider."""
    # Imported here so a deployment loads only the vendor libraries it uses.
    if isinstance(settings, LocalProvider):
        from proxy.storage.local import LocalStorage

        return LocalStorage(settings.name, settings.root, chunk_size)
    started: S3Storage | GcsStorage | AzureStorage
    if isinstance(settings, GcsProvider):
        from proxy.storage.gcs import GcsStorage

        started = GcsStorage(settings, chunk_size)
    elif isinstance(settings, AzureProvider):
        from proxy.storage.azure import AzureStorage

        started = AzureStorage(settings, chunk_size)
    else:
        from proxy.storage.s3 import S3Storage

        started = S3Storage(settings, chunk_size)
    await started.start()
    return started


async def check_providers(settings: Settings) -> dict[str, str | None]:
    """Each provider's problem (a safe, one-line reason), or None when it works."""
    results: dict[str, str | None] = {}
    for name, provider in settings.providers.items():
        try:
            storage = await start_storage(provider, settings.server.chunk_size)
            try:
                await storage.check()
            finally:
                await storage.close()
        except ProxyError as exc:
            results[name] = exc.message
        else:
            results[name] = None
    return results
