"""URLs the CLI prints never show credentials."""

from __future__ import annotations

from tatawwu.cli import _without_credentials


def test_credentials_are_masked_and_plain_urls_kept() -> None:
    assert (
        _without_credentials("smtps://user:s3cret@mail.example:465")
        == "smtps://***@mail.example:465"
    )
    assert _without_credentials("http://key@sms.example/v1") == "http://***@sms.example/v1"
    plain = "http://127.0.0.1:8025/v1/messages"
    assert _without_credentials(plain) == plain
