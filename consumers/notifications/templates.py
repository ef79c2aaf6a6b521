"""Message texts, in Arabic and English, rendered with Jinja2 at send time.

Each template has, per language, an email subject and body and an SMS text. Rendering
is strict (an unknown variable is an error, caught in tests) and the HTML part of an
email is autoescaped, with `dir="rtl"` for Arabic. Variables: `name` (the volunteer's
given name), `opportunity` (its title in the volunteer's language, or a generic
phrase when the notifier has not seen it yet), `starts_at` (local date and time, or
empty), `hours`.

Names and titles are free text chosen by whoever registered or published, and a message
from the official sender lends them its authority, so every variable is cleaned before
it is interpolated (`clean_text`), whatever the contract accepted when the event was
written (records already in the log are read again on replay):
- NFKC first, so fullwidth, circled or mathematical letters and dots (`ｅｖｉｌ．ｅｘａｍｐｌｅ`,
  U+FF0E, U+2024, U+FE52) read as the ASCII they imitate; the ideographic and Arabic full
  stops and `[.]`, `(dot)`, `{.}` are dots, and `[at]`, `(at)` at signs.
- Control characters (C0, C1 with NEL U+0085), line and paragraph separators (U+2028,
  U+2029) and other whitespace become one space: a value can neither break an email
  header (`EmailMessage` refuses a Subject with U+2028, which failed every email about
  such an opportunity) nor start a paragraph. Format characters go (bidi embeddings,
  overrides and isolates, zero-width spaces, soft hyphens, BOM, tags), except the joiners
  and direction marks Arabic text needs (ZWNJ, ZWJ, LRM, RLM, ALM).
- A word that looks like a link is dropped whole: anything with `://` (any scheme, so
  `hxxp://` too), `mailto:`/`tel:`/`javascript:`-like schemes, `www.`, an e-mail address,
  a host name (`evil.example`, `bit.ly/x`, `T.CO`: a label of two word characters or one
  ASCII one, a dot, two letters of any script), an IPv4 address or punycode (`xn--`). A
  space before a dot is closed first (`evil . example`, `evil .example`); a space only
  after one is ordinary punctuation and stays, as does `evil dot example`: neither is
  clickable. The price is a few innocent words (`Node.js`, `Dr.Smith` without a space);
  a one-letter Arabic abbreviation (`د.أحمد`) is kept.
- Then cut to `LIMITS` characters (a name 40, a title 80; others 40), ending with `…`.
  An empty result falls back to a generic name or title.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, StrictUndefined

from consumers.notifications.texts import NEW_TEXTS

TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "welcome": {
        "en": {
            "subject": "Welcome to Tatawwu, {{ name }}",
            "body": "Dear {{ name }},\n\nThank you for registering as a volunteer. "
            "Browse opportunities near you and sign up for your first one.\n\nTatawwu",
            "sms": "Tatawwu: welcome, {{ name }}! Thank you for registering as a volunteer.",
        },
        "ar": {
            "subject": "مرحباً بك في تطوع يا {{ name }}",
            "body": "عزيزنا {{ name }}،\n\nشكراً لتسجيلك متطوعاً. "
            "تصفح الفرص القريبة منك وسجّل في أول فرصة لك.\n\nتطوع",
            "sms": "تطوع: أهلاً {{ name }}! شكراً لتسجيلك متطوعاً.",
        },
    },
    "signup_confirmed": {
        "en": {
            "subject": "You are signed up: {{ opportunity }}",
            "body": "Dear {{ name }},\n\nYour place on {{ opportunity }} is confirmed."
            "{% if starts_at %} It starts {{ starts_at }}.{% endif %}\n\nTatawwu",
            "sms": "Tatawwu: you are signed up for {{ opportunity }}"
            "{% if starts_at %}, {{ starts_at }}{% endif %}.",
        },
        "ar": {
            "subject": "تم تسجيلك: {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\nتم تأكيد مشاركتك في {{ opportunity }}."
            "{% if starts_at %} تبدأ في {{ starts_at }}.{% endif %}\n\nتطوع",
            "sms": "تطوع: تم تسجيلك في {{ opportunity }}{% if starts_at %}، {{ starts_at }}{% endif %}.",
        },
    },
    "signup_withdrawn": {
        "en": {
            "subject": "Your sign-up was withdrawn: {{ opportunity }}",
            "body": "Dear {{ name }},\n\nYou are no longer signed up for {{ opportunity }}. "
            "We hope to see you on another opportunity soon.\n\nTatawwu",
            "sms": "Tatawwu: your sign-up for {{ opportunity }} was withdrawn.",
        },
        "ar": {
            "subject": "تم إلغاء تسجيلك: {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\nلم تعد مسجلاً في {{ opportunity }}. "
            "نأمل أن نراك في فرصة أخرى قريباً.\n\nتطوع",
            "sms": "تطوع: تم إلغاء تسجيلك في {{ opportunity }}.",
        },
    },
    "shift_reminder": {
        "en": {
            "subject": "Reminder: {{ opportunity }}{% if starts_at %}, {{ starts_at }}{% endif %}",
            "body": "Dear {{ name }},\n\nA reminder that {{ opportunity }} starts"
            "{% if starts_at %} {{ starts_at }}{% else %} soon{% endif %}. "
            "If you can no longer come, please withdraw so someone else can take your place."
            "\n\nTatawwu",
            "sms": "Tatawwu reminder: {{ opportunity }} starts"
            "{% if starts_at %} {{ starts_at }}{% else %} soon{% endif %}. See you there!",
        },
        "ar": {
            "subject": "تذكير: {{ opportunity }}{% if starts_at %}، {{ starts_at }}{% endif %}",
            "body": "عزيزنا {{ name }}،\n\nنذكّرك بأن {{ opportunity }} تبدأ"
            "{% if starts_at %} في {{ starts_at }}{% else %} قريباً{% endif %}. "
            "إن لم تعد تستطيع الحضور، يرجى إلغاء تسجيلك ليتمكن غيرك من المشاركة.\n\nتطوع",
            "sms": "تذكير من تطوع: {{ opportunity }} تبدأ"
            "{% if starts_at %} في {{ starts_at }}{% else %} قريباً{% endif %}. نراك هناك!",
        },
    },
    "hours_thanks": {
        "en": {
            "subject": "Thank you for {{ hours }} hours of volunteering",
            "body": "Dear {{ name }},\n\n{{ hours }} hours on {{ opportunity }} are now "
            "verified. Thank you for giving your time.\n\nTatawwu",
            "sms": "Tatawwu: {{ hours }} volunteering hours on {{ opportunity }} verified. Thank you!",
        },
        "ar": {
            "subject": "شكراً لك على {{ hours }} ساعات من التطوع",
            "body": "عزيزنا {{ name }}،\n\nتم توثيق {{ hours }} ساعات في {{ opportunity }}. "
            "شكراً لعطائك.\n\nتطوع",
            "sms": "تطوع: تم توثيق {{ hours }} ساعات تطوع في {{ opportunity }}. شكراً لك!",
        },
    },
}
TEXTS.update(NEW_TEXTS)  # 2 h reminder, confirmation, promotion, change, alert (texts.py)
GENERIC_OPPORTUNITY = {"en": "your volunteering opportunity", "ar": "فرصتك التطوعية"}
GENERIC_NAME = {"en": "volunteer", "ar": "المتطوع"}
LIMITS = {"name": 40, "opportunity": 80, "changes": 160}
DEFAULT_LIMIT = 40
ELLIPSIS = "…"
_KEPT_FORMAT = frozenset("\u200c\u200d\u200e\u200f\u061c")  # joiners, direction marks
_DOTS = re.compile(r"[\u3002\u06d4]|\s*[\[({]\s*(?:\.|dot)\s*[\])}]\s*", re.IGNORECASE)
_ATS = re.compile(r"\s*[\[({]\s*at\s*[\])}]\s*", re.IGNORECASE)
_SPACED_DOT = re.compile(r"(?<=\w)\s+\.\s*(?=\w)")
_LINK = re.compile(
    r":[/\\]{2}"
    r"|(?:mailto|tel|sms|smsto|mms|callto|facetime|skype|whatsapp|viber|tg|javascript"
    r"|vbscript|data|file|intent|market|itms|geo|magnet):\S"
    r"|www\d{0,3}\."
    r"|[^\s@]@[^\s@]+\.\w"
    r"|(?:[^\W_][\w-]+|[a-z0-9])\.[^\W\d_]{2}"
    r"|\d{1,3}(?:\.\d{1,3}){3}"
    r"|xn--",
    re.IGNORECASE,
)


def _char(c: str) -> str:
    category = unicodedata.category(c)
    if category in ("Cc", "Zl", "Zp", "Zs"):
        return " "
    if category == "Cs" or (category == "Cf" and c not in _KEPT_FORMAT):
        return ""
    return c


def _is_link(word: str) -> bool:
    return bool(_LINK.search("".join(c for c in word if c not in _KEPT_FORMAT)))


def clean_text(value: Any, limit: int = DEFAULT_LIMIT) -> str:
    """Free text made safe to interpolate: one line, no links, at most `limit` characters."""
    return _clean(str(value)[: limit * 50], limit)


# A broadcast cleans the same title, and mostly the same given names, for every message.
@functools.lru_cache(maxsize=1 << 15)
def _clean(text: str, limit: int) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(map(_char, text))
    text = _ATS.sub("@", _DOTS.sub(".", text))
    while True:  # dropping a word can bring a spaced dot next to another: until none is left
        kept = " ".join(w for w in _SPACED_DOT.sub(".", text).split() if not _is_link(w))
        if kept == text:
            break
        text = kept
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + ELLIPSIS
    return text


def clean_variables(variables: dict[str, Any], lang: str) -> dict[str, Any]:
    """Every variable cleaned to its limit; an emptied name or title becomes a generic one."""
    cleaned = {k: clean_text(v, LIMITS.get(k, DEFAULT_LIMIT)) for k, v in variables.items()}
    for key, generic in (("name", GENERIC_NAME), ("opportunity", GENERIC_OPPORTUNITY)):
        if key in cleaned and not cleaned[key]:
            cleaned[key] = generic[lang]
    return cleaned


_HTML = (
    '<!doctype html><html lang="{{ lang }}" dir="{{ dir }}"><body>'
    "{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>{% endfor %}</body></html>"
)

# Plain text (email body, SMS): nothing to escape. The HTML part escapes that text.
_env = Environment(undefined=StrictUndefined, autoescape=False)  # noqa: S701
_html_env = Environment(undefined=StrictUndefined, autoescape=True)
_compiled = {
    (name, lang, part): _env.from_string(text)
    for name, langs in TEXTS.items()
    for lang, parts in langs.items()
    for part, text in parts.items()
}
_html = _html_env.from_string(_HTML)


@dataclass(frozen=True)
class Email:
    """A rendered email: subject, plain text and HTML."""

    subject: str
    text: str
    html: str
    language: str


def render_email(template: str, language: str, variables: dict[str, Any]) -> Email:
    """The email for `template` in `language` (falls back to Arabic for an unknown one)."""
    lang = language if language in ("ar", "en") else "ar"
    variables = clean_variables(variables, lang)
    subject = _compiled[(template, lang, "subject")].render(variables)
    text = _compiled[(template, lang, "body")].render(variables)
    html = _html.render(
        lang=lang, dir="rtl" if lang == "ar" else "ltr", paragraphs=text.split("\n\n")
    )
    return Email(subject, text, html, lang)


def render_sms(template: str, language: str, variables: dict[str, Any]) -> str:
    """The SMS text for `template` in `language`."""
    lang = language if language in ("ar", "en") else "ar"
    try:
        key = tuple(sorted(variables.items()))
        hash(key)
    except TypeError:  # an unhashable value: rendered without the cache
        return _compiled[(template, lang, "sms")].render(clean_variables(variables, lang))
    return _render_sms(template, lang, key)


# An alert's SMS differs from one volunteer to the next by the given name only, if at all.
@functools.lru_cache(maxsize=1 << 14)
def _render_sms(template: str, lang: str, variables: tuple[tuple[str, Any], ...]) -> str:
    return _compiled[(template, lang, "sms")].render(clean_variables(dict(variables), lang))
