"""Free text in messages: no links, no line breaks or bidi tricks, cut to what a message allows."""

from __future__ import annotations

import re
import unicodedata
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.notifications.templates import (
    GENERIC_NAME,
    LIMITS,
    TEXTS,
    clean_text,
    render_email,
    render_sms,
)

FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b\ufeff]")


def visible_link(text: str) -> str | None:
    """An independent reader's check: what in `text` could still be followed as a link."""
    seen = unicodedata.normalize("NFKC", text).casefold()
    seen = "".join(c for c in seen if unicodedata.category(c) != "Cf")
    # "evil. example" (a space after the dot only) is sentence punctuation: not a link.
    found = re.search(r"://|www\d*\.|@\w|\w\s*\.[a-z]{2}|\w\s+\.\s*\w", seen)
    return found.group() if found else None


@pytest.mark.parametrize(
    ("crafted", "expected"),
    [
        ("Mariam https://evil.example/x", "Mariam"),
        ("Mariam HTTPS://EVIL.EXAMPLE", "Mariam"),
        ("Mariam hxxp://evil[.]example", "Mariam"),
        ("Mariam ftp://files", "Mariam"),
        ("Sara www.evil.com", "Sara"),
        ("Sara WWW2.EVIL.COM", "Sara"),
        ("Dana evil.example", "Dana"),
        ("Dana bit.ly/x", "Dana"),
        ("Dana t.co/abc", "Dana"),
        ("Dana evil\uff0eexample", "Dana"),  # fullwidth full stop
        ("Dana ｅｖｉｌ．ｃｏｍ", "Dana"),  # fullwidth letters
        ("Dana evil\u3002example", "Dana"),  # ideographic full stop
        ("Dana evil . example", "Dana"),
        ("Dana evil .example", "Dana"),
        ("Dana evil(dot)example", "Dana"),
        ("Dana evil\u200b.example", "Dana"),  # zero-width space
        ("Dana evil.еxample", "Dana"),  # Cyrillic е in the TLD
        ("Dana mailto:x", "Dana"),
        ("Dana javascript:alert(1)", "Dana"),
        ("Dana me@evil.example", "Dana"),
        ("Dana me [at] evil [dot] example", "Dana"),
        ("Dana 203.0.113.9", "Dana"),
        ("Dana xn--80ak6aa92e", "Dana"),
        ("Dana evil :// .example", "Dana"),  # dropping the middle must not rejoin a link
        # kept: ordinary text, numbers, times, an Arabic abbreviation, a colon, e.g.
        ("د.أحمد", "د.أحمد"),
        ("Beach clean-up v2.0: 2.5 hours", "Beach clean-up v2.0: 2.5 hours"),
        ("Data: Science Day", "Data: Science Day"),
        ("Clean-up. Bring water", "Clean-up. Bring water"),
        ("e.g. this", "e.g. this"),
        ("2026-03-01 10:00", "2026-03-01 10:00"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ, which Persian needs, stays
    ],
)
def test_links_are_dropped_and_ordinary_text_kept(crafted: str, expected: str) -> None:
    """Each obfuscation is caught; text that merely has dots or colons is not harmed."""
    assert clean_text(crafted, 80) == expected


@pytest.mark.parametrize(
    "separator", ["\u2028", "\u2029", "\u0085", "\n", "\r\n", "\t", "\x00", "\x1b", "\x7f"]
)
def test_line_breaks_and_controls_become_one_space(separator: str) -> None:
    assert clean_text(f"Beach{separator}clean-up", 80) == "Beach clean-up"


def test_bidi_overrides_and_invisible_characters_are_removed() -> None:
    """RLO, isolates, zero-width space, BOM, soft hyphen, tags: gone; LRM/RLM stay."""
    text = "\u202eMariam\u202c \u2067x\u2069\u200b\ufeff\u00ad\U000e0041 \u200fy"
    assert clean_text(text, 80) == "Mariam x \u200fy"


@pytest.mark.parametrize(("variable", "limit"), sorted(LIMITS.items()))
def test_long_values_are_cut_with_an_ellipsis(variable: str, limit: int) -> None:
    """A name is at most 40 characters in a message, a title 80, what changed 160."""
    assert LIMITS == {"name": 40, "opportunity": 80, "changes": 160}
    cut = clean_text("x" * 500, limit)
    assert len(cut) == limit
    assert cut == "x" * (limit - 1) + "…"
    assert clean_text("x" * limit, limit) == "x" * limit


def test_a_name_that_was_only_a_link_becomes_a_generic_salutation() -> None:
    sms = render_sms("welcome", "en", {"name": "https://evil.example"})
    assert (
        sms == f"Tatawwu: welcome, {GENERIC_NAME['en']}! Thank you for registering as a volunteer."
    )


def test_a_title_with_a_line_separator_makes_a_valid_email_header() -> None:
    """U+2028 in a title used to make EmailMessage refuse the Subject: every email failed."""
    variables = {"name": "Sara", "opportunity": "Beach\u2028clean-up", "starts_at": "", "hours": ""}
    mail = render_email("signup_confirmed", "en", variables)
    message = EmailMessage()
    message["Subject"] = mail.subject
    assert message["Subject"] == "You are signed up: Beach clean-up"
    assert mail.text.count("\n\n") == 2  # no paragraph smuggled in


@pytest.mark.parametrize("template", sorted(TEXTS))
@pytest.mark.parametrize("language", ["ar", "en"])
def test_no_template_lets_a_crafted_name_or_title_through(template: str, language: str) -> None:
    """Every text, both languages, every part: the crafted link is absent."""
    variables = {
        "name": "Mariam visit evil.example/win",
        "opportunity": "Beach clean-up www.evil.example\u2028\u202e",
        "starts_at": "2026-03-01 10:00",
        "hours": "2.5",
    }
    mail = render_email(template, language, variables)
    for text in (mail.subject, mail.text, mail.html, render_sms(template, language, variables)):
        assert visible_link(text) is None, text
        assert "evil" not in text
        assert not FORBIDDEN.search(text.replace("\n", ""))


LABEL = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2,
                max_size=10)  # fmt: skip
TLD = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=6)
DOT = st.sampled_from([".", "\uff0e", "\u3002", "\u2024", "\ufe52", " . ", " .", "[.]", "(.)",
                       " [dot] ", "\u200b.", ".\u200d"])  # fmt: skip
SCHEME = st.sampled_from(["", "http://", "HTTPS://", "hxxp://", "ftp://", "//", "http:\\\\"])
PLAIN = st.text("abcdefghijklmnopqrstuvwxyzمريمسارة", min_size=1, max_size=8)


@st.composite
def crafted_links(draw: st.DrawFn) -> str:
    """A host name (or address) spelt with the obfuscations above, maybe with a path."""
    dot = draw(DOT)
    host = dot.join([*draw(st.lists(LABEL, min_size=1, max_size=3)), draw(TLD)])
    if draw(st.booleans()):
        host = draw(LABEL) + draw(st.sampled_from(["@", "＠", " [at] ", "(at)"])) + host
    link = draw(SCHEME) + host + draw(st.sampled_from(["", "/", "/x?y=1"]))
    if draw(st.booleans()):
        link = unicodedata.normalize("NFKC", link).upper()
    if draw(st.booleans()):  # fullwidth ASCII
        link = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in link)
    return link


@given(st.lists(st.one_of(PLAIN, crafted_links()), min_size=1, max_size=8))
def test_no_crafted_link_survives_and_plain_words_do(parts: list[str]) -> None:
    """Links spelt every way above, among plain words: the words stay, the links go."""
    cleaned = clean_text(" ".join(parts), 10_000)
    assert visible_link(cleaned) is None, cleaned
    words = cleaned.split()
    for part in parts:
        if re.fullmatch(r"[a-zمريمسارة]+", part):
            assert part in words


@given(st.text(), st.integers(1, 200))
def test_any_text_becomes_one_bounded_line_without_controls(text: str, limit: int) -> None:
    cleaned = clean_text(text, limit)
    assert len(cleaned) <= limit
    assert not FORBIDDEN.search(cleaned)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
