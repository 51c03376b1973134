"""The Azure Blob provider: ``settings`` (its keys) and ``backend`` (``AzureStorage``).

Nothing is imported here, so config reads the settings without the ``azure`` extra
(and says so when a provider needs it).
"""
