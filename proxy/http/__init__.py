"""HTTP as RFC 9110 and its neighbours define it, pure: no aiohttp web, config, storage or
cryptography here (``tests/unit/test_http_purity.py`` checks), so every rule can be tested
as a table.

- ``names``: every header name, spelled once
- ``ranges``: ``Range`` for a known size, ``Content-Range``, the ``ByteRange`` value
- ``conditional``: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range
- ``dates``: the one HTTP-date parser and formatter
- ``decision``: ``decide(...) -> Decision``, the status of a GET or HEAD before any body byte
- ``representation``: Content-Type and Content-Disposition values
- ``text``: request header values as text, or a 400
- ``forwarded``: the client's address behind trusted reverse proxies (RFC 7239)
"""
