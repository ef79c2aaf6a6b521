"""What a volunteer's SMS reply asks for: STOP, START, YES, NO, or nothing we know (pure).

The whole message is the keyword, as carriers' opt-out rules (and providers such as
Twilio) match it: "STOP" or "stop." stops, "stop sending me the reminders" does not, and
"No problem, I'll come" is not a NO that would give a place away. Matching ignores case,
spaces (also inside: "STOP ALL" is STOPALL), surrounding punctuation, invisible
direction marks, Latin accents and Arabic diacritics (harakat, tatweel), folds the
hamza/madda forms of alef (إيقاف = ايقاف, إلغاء = الغاء), the Persian and Urdu forms of
yeh and kaf, alef maksura, and Arabic-Indic digits, and takes compatibility forms
(full-width letters) as their plain letters.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    """What a reply does."""

    STOP = "stop"  # SMS consent off
    START = "start"  # SMS consent back on
    YES = "yes"  # attendance confirmed
    NO = "no"  # attendance declined: the place is released


_WORDS: dict[Keyword, tuple[str, ...]] = {
    Keyword.STOP: (
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke",
        "ايقاف", "الغاء", "الغاءالاشتراك", "توقف", "اوقف", "قف", "ستوب",
    ),
    Keyword.START: ("start", "unstop", "resume", "optin", "ابدا", "اشتراك", "استئناف", "تفعيل"),
    Keyword.YES: ("yes", "y", "yeah", "yep", "نعم", "اجل", "ايوه", "ايه"),
    Keyword.NO: ("no", "n", "nope", "لا", "كلا"),
}  # fmt: skip

# Letters written several ways across the Arabic script: one form each.
_FOLD = str.maketrans({
    "\u0649": "\u064a",  # alef maksura -> yeh
    "\u06cc": "\u064a",  # Farsi yeh -> yeh
    "\u06d2": "\u064a",  # yeh barree -> yeh
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u0671": "\u0627",  # alef wasla -> alef
    "\u0640": None,  # tatweel (kashida), a stretch, not a letter
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern Arabic-Indic digits
})  # fmt: skip


def normalise(text: str) -> str:
    """The reply reduced to what matching compares: letters and digits, one form each."""
    decomposed = unicodedata.normalize("NFKD", text)
    # Combining marks go (Latin accents, harakat, and the hamza/madda that NFKD splits
    # off alef); so do spaces, punctuation, symbols and format characters (RLM, ZWJ).
    kept = "".join(c for c in decomposed if unicodedata.category(c)[0] in "LN")
    return unicodedata.normalize("NFC", kept.translate(_FOLD)).casefold()


_BY_WORD: dict[str, Keyword] = {normalise(w): k for k, words in _WORDS.items() for w in words}


def parse_keyword(text: str) -> Keyword | None:
    """The keyword the whole reply is, or None (an ordinary message: recorded, ignored)."""
    return _BY_WORD.get(normalise(text))


def keywords(keyword: Keyword) -> tuple[str, ...]:
    """The words that mean `keyword` (as written in the table above)."""
    return _WORDS[keyword]
