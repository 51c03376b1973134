"""Links: the §1 signed query today, §6's token links next to it.

- ``rules``: what an account, provider and object key may be, shared by every link form
- ``signing``: the HMAC of §1, pure, the clock passed in
- ``query``: §1's wire format, parsed strictly or built
- ``verify``: is a well-formed link good right now (``check_link``), and the validate JSON
- ``issuing``: the one copy of the issuing rules, for ``GET /api/storage`` and ``proxy sign``
- ``redaction``: what of a link may reach a log
"""
