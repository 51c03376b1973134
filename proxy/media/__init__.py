"""Media containers, read without decoding a sample: ``bmff`` (ISO base media files)."""
