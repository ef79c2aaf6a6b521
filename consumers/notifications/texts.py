"""Texts of the messages added with issue 14 (2 h reminder, confirmation, promotion, change,
alert), in Arabic and English; `templates.py` compiles and renders them like its own.

Variables besides `name`, `opportunity`, `starts_at`: `changes` (what changed, already in
the volunteer's language) and `count` (opportunities in an alert, as text). The
confirmation asks for a reply by SMS: YES / نعم keeps the place, NO / لا gives it back
(the inbound SMS webhook reads the answer).
"""

from __future__ import annotations

NEW_TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "shift_reminder_2h": {
        "en": {
            "subject": "In 2 hours: {{ opportunity }}",
            "body": "Dear {{ name }},\n\n{{ opportunity }} starts in about two hours"
            "{% if starts_at %} ({{ starts_at }}){% endif %}. See you there!\n\nTatawwu",
            "sms": "Tatawwu: {{ opportunity }} starts in about 2 hours"
            "{% if starts_at %} ({{ starts_at }}){% endif %}. See you there!",
        },
        "ar": {
            "subject": "بعد ساعتين: {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\nتبدأ {{ opportunity }} بعد ساعتين تقريباً"
            "{% if starts_at %} ({{ starts_at }}){% endif %}. نراك هناك!\n\nتطوع",
            "sms": "تطوع: تبدأ {{ opportunity }} بعد ساعتين تقريباً"
            "{% if starts_at %} ({{ starts_at }}){% endif %}. نراك هناك!",
        },
    },
    "attendance_confirmation": {
        "en": {
            "subject": "Will you come? {{ opportunity }}",
            "body": "Dear {{ name }},\n\nPlease confirm that you will come to {{ opportunity }}"
            "{% if starts_at %} on {{ starts_at }}{% endif %}: reply YES to this number to "
            "keep your place, or NO to give it to someone else.\n\nTatawwu",
            "sms": "Tatawwu: will you come to {{ opportunity }}"
            "{% if starts_at %} on {{ starts_at }}{% endif %}? Reply YES to keep your place "
            "or NO to give it up.",
        },
        "ar": {
            "subject": "هل ستحضر؟ {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\nيرجى تأكيد حضورك في {{ opportunity }}"
            "{% if starts_at %} يوم {{ starts_at }}{% endif %}: أرسل نعم إلى هذا الرقم "
            "للاحتفاظ بمكانك، أو لا لإتاحته لغيرك.\n\nتطوع",
            "sms": "تطوع: هل ستحضر {{ opportunity }}{% if starts_at %} يوم {{ starts_at }}"
            "{% endif %}؟ أرسل نعم للاحتفاظ بمكانك أو لا للتخلي عنه.",
        },
    },
    "waitlist_promoted": {
        "en": {
            "subject": "A place opened up for you: {{ opportunity }}",
            "body": "Dear {{ name }},\n\nGood news: a place on {{ opportunity }} opened up and "
            "it is now yours.{% if starts_at %} It starts {{ starts_at }}.{% endif %}"
            "\n\nTatawwu",
            "sms": "Tatawwu: you moved off the waiting list and have a place on {{ opportunity }}"
            "{% if starts_at %}, {{ starts_at }}{% endif %}.",
        },
        "ar": {
            "subject": "أصبح لك مكان: {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\nخبر سار: توفر مكان في {{ opportunity }} وأصبح لك."
            "{% if starts_at %} تبدأ في {{ starts_at }}.{% endif %}\n\nتطوع",
            "sms": "تطوع: انتقلت من قائمة الانتظار وأصبح لك مكان في {{ opportunity }}"
            "{% if starts_at %}، {{ starts_at }}{% endif %}.",
        },
    },
    "opportunity_changed": {
        "en": {
            "subject": "Changed: {{ opportunity }}",
            "body": "Dear {{ name }},\n\n{{ opportunity }}, which you signed up for, has "
            "changed{% if changes is defined and changes %}: {{ changes }}{% endif %}.\n\nIf you can no longer come, please withdraw so "
            "someone else can take your place.\n\nTatawwu",
            "sms": "Tatawwu: {{ opportunity }} has changed"
            "{% if changes is defined and changes %}: {{ changes }}{% endif %}.",
        },
        "ar": {
            "subject": "تغيير: {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\nتغيرت تفاصيل {{ opportunity }} التي سجلت فيها"
            "{% if changes is defined and changes %}: {{ changes }}{% endif %}.\n\nإن لم تعد تستطيع الحضور، يرجى إلغاء تسجيلك ليتمكن غيرك من "
            "المشاركة.\n\nتطوع",
            "sms": "تطوع: تغيرت تفاصيل {{ opportunity }}"
            "{% if changes is defined and changes %}: {{ changes }}{% endif %}.",
        },
    },
    "opportunity_alert": {
        "en": {
            "subject": "New volunteering near you: {{ opportunity }}",
            "body": "Dear {{ name }},\n\n{% if count is defined and count != '1' %}{{ count }} new opportunities "
            "match you, among them {{ opportunity }}{% else %}A new opportunity matches you: "
            "{{ opportunity }}{% endif %}{% if starts_at %}, {{ starts_at }}{% endif %}."
            "\n\nTatawwu",
            "sms": "Tatawwu: {% if count is defined and count != '1' %}{{ count }} new opportunities near you, "
            "among them {{ opportunity }}{% else %}new opportunity near you: {{ opportunity }}"
            "{% endif %}{% if starts_at %}, {{ starts_at }}{% endif %}.",
        },
        "ar": {
            "subject": "فرصة تطوع جديدة قريبة منك: {{ opportunity }}",
            "body": "عزيزنا {{ name }}،\n\n{% if count is defined and count != '1' %}{{ count }} فرص جديدة تناسبك، "
            "منها {{ opportunity }}{% else %}فرصة جديدة تناسبك: {{ opportunity }}{% endif %}"
            "{% if starts_at %}، {{ starts_at }}{% endif %}.\n\nتطوع",
            "sms": "تطوع: {% if count is defined and count != '1' %}{{ count }} فرص جديدة قريبة منك، منها "
            "{{ opportunity }}{% else %}فرصة جديدة قريبة منك: {{ opportunity }}{% endif %}"
            "{% if starts_at %}، {{ starts_at }}{% endif %}.",
        },
    },
}
