"""The pure lease rules in backend/domain/leases.py."""

from __future__ import annotations

import pytest

from backend.domain.errors import InvalidInput
from backend.domain.leases import (
    ALL_SCOPES,
    check_duration,
    check_list_filter,
    check_scope,
    effective_status,
    epoch_of,
    expiry_after,
    holder_of,
    scopes_touched,
)


@pytest.mark.parametrize(
    ("paths", "scopes"),
    [
        (["/hotel/city"], {"hotel"}),
        (["hotel"], {"hotel"}),
        (["a/b"], {"a/b"}),  # a bare path names one top-level key literally
        (["/a~1b/c"], {"a/b"}),
        (["/hotel/x", "/flight"], {"hotel", "flight"}),
        (["/hotel", ""], ALL_SCOPES),  # the root overwrites every scope
        ([], set()),
    ],
)
def test_scopes_touched(paths, scopes):
    assert scopes_touched(paths) == scopes


def test_effective_status_judges_expiry_by_the_clock():
    assert effective_status("active", 100.0, 99.9) == "active"
    assert effective_status("active", 100.0, 100.0) == "expired"
    for ended in ("released", "revoked", "expired"):
        assert effective_status(ended, 100.0, 200.0) == ended
        assert effective_status(ended, 100.0, 50.0) == ended


def test_expiry_after():
    expires_at, epoch = expiry_after("2026-01-01T00:00:00+00:00", 90)
    assert expires_at == "2026-01-01T00:01:30+00:00"
    assert epoch == epoch_of(expires_at) == epoch_of("2026-01-01T00:00:00+00:00") + 90


@pytest.mark.parametrize(("duration", "ok"), [(1, True), (60, True), (0, False), (61, False)])
def test_check_duration(duration, ok):
    if ok:
        check_duration(duration, 60)
    else:
        with pytest.raises(InvalidInput):
            check_duration(duration, 60)


def test_scope_and_filter_checks():
    check_scope("hotel")
    check_scope("research/part-1")
    for bad in ("", "  ", "x" * 257, "/hotel"):
        with pytest.raises(InvalidInput):
            check_scope(bad)
    for good in ("active", "released", "expired", "revoked", "all"):
        check_list_filter(good)
    with pytest.raises(InvalidInput):
        check_list_filter("held")


def test_holder_of():
    assert holder_of("a", None) == "a"
    assert holder_of(None, "b") == "b"
    assert holder_of("a", "a") == "a"
    with pytest.raises(InvalidInput):
        holder_of("a", "b")
    with pytest.raises(InvalidInput):
        holder_of(None, None)
    with pytest.raises(InvalidInput):
        holder_of("", "")
