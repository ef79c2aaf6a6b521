"""The SMS reply keywords: every synonym, and matching blind to case, spacing and marks."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.gateway.keywords import Keyword, keywords, normalise, parse_keyword

ALL = [(k, w) for k in Keyword for w in keywords(k)]
HARAKAT = [chr(c) for c in range(0x064B, 0x0653)] + ["\u0670", "\u0640"]  # + tatweel
INVISIBLE = ["\u200e", "\u200f", "\u200b", "\u200c", "\u200d", "\ufeff"]
SPACES = [" ", "\t", "\n", "\u00a0", "\u3000"]
PUNCTUATION = [".", "!", "?", "،", "؟", "'", '"', "*", "-"]


@pytest.mark.parametrize(("keyword", "word"), ALL)
def test_every_word_of_the_table_means_its_keyword(keyword: Keyword, word: str) -> None:
    """Each synonym, as written in the table, parses to its keyword."""
    assert parse_keyword(word) == keyword


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.STOP), (" Stop. ", Keyword.STOP), ("STOP ALL", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP), ("إيقاف", Keyword.STOP), ("إلغاء", Keyword.STOP),
        ("الغاء", Keyword.STOP), ("أوقف", Keyword.STOP),
        ("start", Keyword.START), ("ابدأ", Keyword.START), ("YES", Keyword.YES),
        ("yes!", Keyword.YES), ("نعم", Keyword.YES), ("نَعَمْ", Keyword.YES), ("No", Keyword.NO),
        ("لا", Keyword.NO), ("\ufefb", Keyword.NO), ("ＳＴＯＰ", Keyword.STOP),
        ("stop sending me reminders", None), ("No problem, I'll come", None), ("", None),
        ("Thanks!", None), ("شكرا", None), ("STÓP", Keyword.STOP),
    ],
)  # fmt: skip
def test_whole_message_is_the_keyword(text: str, expected: Keyword | None) -> None:
    """Only the whole reply counts: a sentence that starts with NO releases nothing."""
    assert parse_keyword(text) == expected


def _garnish(word: str, draw: st.DrawFn) -> str:
    """The word as people and phones write it: any case, spaces, marks, punctuation."""
    out = []
    for char in word:
        out.append(char.upper() if draw(st.booleans()) else char)
        arabic = "\u0600" <= char <= "\u06ff"
        extras = HARAKAT if arabic else ["\u0301", "\u0308"]  # Latin accents
        out.append(draw(st.sampled_from(["", "", *extras, *INVISIBLE, *SPACES])))
    prefix = draw(st.lists(st.sampled_from(SPACES + INVISIBLE + PUNCTUATION), max_size=3))
    suffix = draw(st.lists(st.sampled_from(SPACES + INVISIBLE + PUNCTUATION), max_size=3))
    return "".join(prefix) + "".join(out) + "".join(suffix)


@st.composite
def garnished(draw: st.DrawFn) -> tuple[Keyword, str]:
    keyword, word = draw(st.sampled_from(ALL))
    return keyword, _garnish(word, draw)


@given(garnished())
def test_case_spacing_marks_and_punctuation_never_change_the_keyword(
    case: tuple[Keyword, str],
) -> None:
    """A keyword with any case, spaces, diacritics, direction marks or punctuation added."""
    keyword, text = case
    assert parse_keyword(text) == keyword


@given(st.sampled_from(ALL), st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_any_unicode_normal_form_of_a_keyword_parses_the_same(
    case: tuple[Keyword, str], form: str
) -> None:
    """Phones send composed or decomposed text: both parse alike."""
    keyword, word = case
    assert parse_keyword(unicodedata.normalize(form, word)) == keyword  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_normalise_is_idempotent_and_parse_never_raises(text: str) -> None:
    """Any text at all: normalising twice changes nothing, and parsing gives a keyword or None."""
    once = normalise(text)
    assert normalise(once) == once
    assert parse_keyword(text) in (None, *Keyword)


@given(st.sampled_from(ALL), st.text(alphabet=st.characters(categories=["L"]), min_size=1,
                                     max_size=8))  # fmt: skip
def test_a_keyword_with_another_word_is_not_the_keyword(
    case: tuple[Keyword, str], extra: str
) -> None:
    """A keyword followed by more words is an ordinary message, unless the whole is one."""
    _, word = case
    result = parse_keyword(f"{word} {extra}")
    assert result is None or normalise(word + extra) in {normalise(w) for _, w in ALL}
