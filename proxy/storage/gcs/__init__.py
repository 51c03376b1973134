"""The Google Cloud Storage provider: ``settings`` (its keys) and ``backend`` (``GcsStorage``,
V4 signed URLs).

Nothing is imported here, so config reads the settings without loading gcloud-aio.
"""
