"""Message texts, in Arabic and English, rendered with Jinja2 at send time.

Each template has, per language, an email subject and body and an SMS text. Rendering
is strict (an unknown variable is an error, caught in tests) and the HTML part of an
email is autoescaped, with `dir="rtl"` for Arabic. Variables: `name` (the volunteer's
given name), `opportunity` (its title in the volunteer's language, or a generic
phrase when the notifier has not seen it yet), `starts_at` (local date and time, or
empty), `hours`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, StrictUndefined

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
GENERIC_OPPORTUNITY = {"en": "your volunteering opportunity", "ar": "فرصتك التطوعية"}
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
    subject = _compiled[(template, lang, "subject")].render(variables)
    text = _compiled[(template, lang, "body")].render(variables)
    html = _html.render(
        lang=lang, dir="rtl" if lang == "ar" else "ltr", paragraphs=text.split("\n\n")
    )
    return Email(subject, text, html, lang)


def render_sms(template: str, language: str, variables: dict[str, Any]) -> str:
    """The SMS text for `template` in `language`."""
    lang = language if language in ("ar", "en") else "ar"
    return _compiled[(template, lang, "sms")].render(variables)
