"""Pure pieces: the busy view of a payload, and the pinned target of a URL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.services.outbox import PRIVATE_KEYS, busy_view
from scheduler.services.webhook_targets import UnsafeTarget, resolve

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(sorted(PRIVATE_KEYS) + ["id", "patient_id", "start", "name"]),
        children, max_size=4), max_leaves=20)


def _keys(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


@given(json_values)
def test_the_busy_view_has_no_private_key_anywhere(payload):
    assert not set(_keys(busy_view(payload))) & PRIVATE_KEYS


def test_the_busy_view_keeps_everything_else():
    payload = {"id": 3, "patient_id": 7, "patient": {"name": "Ada"},
               "appointments": [{"id": 1, "patient_id": 7, "patient_name": "Ada"}]}
    assert busy_view(payload) == {"id": 3, "patient_id": 7,
                                  "appointments": [{"id": 1, "patient_id": 7}]}


@pytest.mark.parametrize("url, pinned, host, sni", [
    ("https://93.184.215.14/hooks?a=1", "https://93.184.215.14:443/hooks?a=1",
     "93.184.215.14", "93.184.215.14"),
    ("http://93.184.215.14:8080", "http://93.184.215.14:8080/", "93.184.215.14:8080", None),
    ("https://[2606:2800:220:1::1]:8443/x", "https://[2606:2800:220:1::1]:8443/x",
     "[2606:2800:220:1::1]:8443", "2606:2800:220:1::1"),
])
def test_the_connection_goes_to_the_checked_address(url, pinned, host, sni):
    target = resolve(url, allow_private=False)
    assert (target.url, target.host_header, target.sni_hostname) == (pinned, host, sni)


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeTarget, match="does not resolve"):
        resolve("https://no-such-host.invalid/x", allow_private=False)
