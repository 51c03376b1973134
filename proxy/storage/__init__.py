"""Backends, one module each, behind the ``Storage`` protocol of ``base``."""

from __future__ import annotations

from proxy.config import LocalProvider, ProviderSettings, Settings
from proxy.errors import ProxyError
from proxy.storage.base import ByteRange, ObjectMeta, Storage

__all__ = ["ByteRange", "ObjectMeta", "Storage", "check_providers", "start_storage"]


async def start_storage(settings: ProviderSettings, chunk_size: int) -> Storage:
    """A started backend for one configured provider."""
    if isinstance(settings, LocalProvider):
        from proxy.storage.local import LocalStorage

        return LocalStorage(settings.name, settings.root, chunk_size)
    from proxy.storage.s3 import S3Storage

    s3 = S3Storage(settings, chunk_size)
    await s3.start()
    return s3


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
