"""The local-disk provider: ``settings`` (its keys) and ``backend`` (``LocalStorage``).

Nothing is imported here, so config reads the settings without loading the backend.
"""
