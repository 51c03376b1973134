"""Signed, expiring URLs for private media: validate the HMAC and expiry, then stream."""
