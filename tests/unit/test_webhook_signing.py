"""Webhook signatures: HMAC-SHA256 over id, timestamp and body; each rule its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.webhook_signing import SIGNATURE_HEADER, SignatureError, signed_headers, verify

SECRET = b"s3cret-for-tests"
NOW = 1_780_000_000


def test_a_signed_request_verifies_and_gives_its_nonce() -> None:
    """What the provider signs now verifies with the same secret."""
    headers = signed_headers(SECRET, b'{"a":1}', message_id="msg_1", timestamp=NOW)
    assert verify(SECRET, headers, b'{"a":1}', NOW + 10, 300) == ("msg_1", NOW)


@given(st.binary(max_size=300), st.binary(min_size=1, max_size=300))
def test_any_change_to_the_body_breaks_the_signature(body: bytes, change: bytes) -> None:
    """A body altered in any way is refused as bad_signature."""
    headers = signed_headers(SECRET, body, timestamp=NOW)
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, headers, body + change, NOW, 300)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: h.pop("webhook-id"), "missing_header"),
        (lambda h: h.pop(SIGNATURE_HEADER), "missing_header"),
        (lambda h: h.update({"webhook-timestamp": "soon"}), "bad_timestamp"),
        (lambda h: h.update({"webhook-id": "other"}), "bad_signature"),
        (lambda h: h.update({"webhook-timestamp": str(NOW + 1)}), "bad_signature"),
        (lambda h: h.update({SIGNATURE_HEADER: "v1,AAAA"}), "bad_signature"),
    ],
)
def test_each_broken_header_is_refused_with_its_reason(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Missing, malformed or altered headers each name what is wrong."""
    headers = signed_headers(SECRET, b"{}", message_id="msg_1", timestamp=NOW)
    mutate(headers)
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, headers, b"{}", NOW, 300)
    assert caught.value.reason == reason


def test_another_secret_and_a_stale_timestamp_are_refused() -> None:
    """Signed with another secret: bad_signature; signed too long ago or ahead: stale."""
    headers = signed_headers(b"other", b"{}", timestamp=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, headers, b"{}", NOW, 300)
    for skew in (-301, 301):
        headers = signed_headers(SECRET, b"{}", timestamp=NOW + skew)
        with pytest.raises(SignatureError) as caught:
            verify(SECRET, headers, b"{}", NOW, 300)
        assert caught.value.reason == "stale_timestamp"


def test_one_matching_signature_among_several_is_enough() -> None:
    """During a secret rotation the provider sends both signatures."""
    old = signed_headers(b"old-secret", b"{}", message_id="m", timestamp=NOW)[SIGNATURE_HEADER]
    headers = signed_headers(SECRET, b"{}", message_id="m", timestamp=NOW)
    headers[SIGNATURE_HEADER] = f"{old} {headers[SIGNATURE_HEADER]}"
    assert verify(SECRET, headers, b"{}", NOW, 300) == ("m", NOW)
