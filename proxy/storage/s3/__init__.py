"""The S3 provider (AWS, MinIO, R2, ...): ``settings`` (its keys) and ``backend``
(``S3Storage``) over two transports, one module each:

- ``botocore``: aiobotocore for HEAD, the readiness list, presigning and any GET the
  direct path cannot judge; the one table of S3's errors
- ``direct``: the bytes of a GET over a plain pooled aiohttp connection, to a URL
  botocore presigned (a botocore call costs about a millisecond of CPU)

Nothing is imported here, so config reads the settings without loading aiobotocore.
"""
