"""Backends behind the ``Storage`` protocol of ``base``: one package per kind, its
``settings`` (dataclasses only) beside its ``backend``.

A leaf: the settings are imported here, never a backend. ``start_storage`` imports
the one it starts, so a deployment loads only the vendor libraries it uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from proxy.storage.azure.settings import AzureProvider
from proxy.storage.base import ByteRange, ObjectMeta, Storage
from proxy.storage.gcs.settings import GcsProvider
from proxy.storage.local.settings import LocalProvider
from proxy.storage.s3.settings import S3Provider

if TYPE_CHECKING:
    from proxy.storage.azure.backend import AzureStorage
    from proxy.storage.gcs.backend import GcsStorage
    from proxy.storage.s3.backend import S3Storage

__all__ = [
    "PROVIDER_KINDS",
    "AzureProvider",
    "ByteRange",
    "GcsProvider",
    "LocalProvider",
    "ObjectMeta",
    "ProviderSettings",
    "S3Provider",
    "Storage",
    "start_storage",
]

ProviderSettings = LocalProvider | S3Provider | GcsProvider | AzureProvider
# A provider's ``kind`` -> its settings.
PROVIDER_KINDS: Mapping[str, type[ProviderSettings]] = {
    "local": LocalProvider,
    "s3": S3Provider,
    "gcs": GcsProvider,
    "azure": AzureProvider,
}


async def start_storage(settings: ProviderSettings, chunk_size: int) -> Storage:
    """A started backend for one configured provider."""
    if isinstance(settings, LocalProvider):
        from proxy.storage.local.backend import LocalStorage

        return LocalStorage(settings.name, settings.root, chunk_size)
    started: S3Storage | GcsStorage | AzureStorage
    if isinstance(settings, GcsProvider):
        from proxy.storage.gcs.backend import GcsStorage

        started = GcsStorage(settings, chunk_size)
    elif isinstance(settings, AzureProvider):
        from proxy.storage.azure.backend import AzureStorage

        started = AzureStorage(settings, chunk_size)
    else:
        from proxy.storage.s3.backend import S3Storage

        started = S3Storage(settings, chunk_size)
    await started.start()
    return started
