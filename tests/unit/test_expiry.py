"""§1's expiry in whole seconds: a link is valid while now <= e, so during all of second e."""

from __future__ import annotations

import pytest

from proxy.accounts import Account
from proxy.errors import Expired
from proxy.links.query import parse_query
from proxy.links.verify import check_link, validation_report
from tests.support.proxyapp import NOW, Clock, Links

E = NOW + 10
ACCOUNTS = {"cam": Account("cam", ("disk",), "cam/")}
LINKS = Links()


def query():  # type: ignore[no-untyped-def]
    return parse_query(LINKS.query("cam", "disk", "cam/clip.mp4", E))


@pytest.mark.parametrize(
    ("now", "valid", "expires_in"),
    [
        (E - 10, True, 10),
        (E - 1.5, True, 2),
        (E - 1, True, 1),
        (E - 0.5, True, 1),  # still inside second e - 1
        (E, True, 0),
        (E + 0.5, True, 0),  # second e itself: valid (a float clock once refused it)
        (E + 0.999999, True, 0),
        (E + 1, False, 0),
        (E + 1.5, False, 0),
        (E + 86400, False, 0),
    ],
)
def test_valid_through_the_whole_expiry_second(now: float, valid: bool, expires_in: int) -> None:
    clock = Clock(now)
    report = validation_report(query(), LINKS.signer, ACCOUNTS, clock())
    assert report["valid"] is valid
    assert report["expiresIn"] == expires_in
    assert isinstance(report["expiresIn"], int)
    if valid:
        assert check_link(query(), LINKS.signer, ACCOUNTS, clock()) is ACCOUNTS["cam"]
    else:
        assert report["reason"] == "expired"
        with pytest.raises(Expired):
            check_link(query(), LINKS.signer, ACCOUNTS, clock())
