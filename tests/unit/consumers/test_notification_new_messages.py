"""The new messages' pure rules: windows before a shift, alert days and quiet hours (a fake
clock: fixed instants), what changed, alert consent, opportunity updates, ownership."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from consumers.campaigns.rules import fold_history
from consumers.notifications.alerts import alert_cohort, alert_slot
from consumers.notifications.changes import told_changes
from consumers.notifications.rules import (
    Claimed,
    QuietHours,
    alerts_on,
    decide,
    fold_opportunity,
    ledger_rows,
    notification_id,
)
from consumers.notifications.schedule import Leads, timing
from consumers.notifications.variables import describe_changes
from schemas.notifications import SuppressionReason
from schemas.ownership import Reason, Refused, TimeBounds, judge
from tests.support.events import decoded

DOHA = ZoneInfo("Asia/Qatar")
NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)  # 13:00 in Doha
QUIET = QuietHours.parse("21:00-08:00", "Asia/Qatar")
CONTACT = {"status": "registered", "given_name": "Sara", "email": "s@example.org",
           "phone": "+97455501234", "language": "en",
           "consent": {"sms": True, "email": True, "alerts": True}}  # fmt: skip
PAIR = {"volunteer_id": "v-1", "opportunity_id": "o-1", "campaign_id": "c-1"}


def at(hours: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=hours)


def when(template: str, starts_in_h: float, status: str = "signed_up", **kw: object) -> object:
    return timing(template, NOW, NOW, at(starts_in_h), "published", status, **kw)  # type: ignore[arg-type]


def test_each_reminder_has_its_window_and_a_late_sign_up_gets_the_one_still_open() -> None:
    """24 h: from a day before until 2 h before; 2 h: from 2 h before until the start."""
    assert when("shift_reminder", 30).until == at(30 - 24)
    assert when("shift_reminder", 20).send
    assert when("shift_reminder", 1.5).suppress == "too_late"  # the 2 h one covers it
    assert when("shift_reminder_2h", 20).until == at(20 - 2)
    assert when("shift_reminder_2h", 1.5).send
    assert when("shift_reminder_2h", -0.1).suppress == "too_late"
    assert when("shift_reminder_2h", 1.5, "withdrawn").suppress == "withdrawn"


def test_the_confirmation_is_asked_from_48_hours_until_the_release_lead() -> None:
    assert when("attendance_confirmation", 60).until == at(60 - 48)
    assert when("attendance_confirmation", 30).send
    assert when("attendance_confirmation", 11).suppress == "too_late"  # release lead 12 h
    leads = Leads(confirmation=dt.timedelta(hours=72), release=dt.timedelta(hours=2))
    assert when("attendance_confirmation", 60, leads=leads).send
    assert when("attendance_confirmation", 3, leads=leads).send


def test_promotions_and_changes_go_at_once_until_the_start() -> None:
    for template in ("waitlist_promoted", "opportunity_changed"):
        assert when(template, 100).send
        assert when(template, -1).suppress == "too_late"
    cancelled = timing("opportunity_changed", NOW, NOW, at(5), "cancelled", "signed_up")
    assert cancelled.suppress == "cancelled"


def test_the_confirmation_is_one_per_volunteer_and_opportunity_whatever_the_sign_up() -> None:
    first = decoded("volunteer.signed_up", "e-1", NOW, source="partner/o", **PAIR)
    again = decoded("volunteer.signed_up", "e-2", at(1), source="partner/o", **PAIR)
    asks = [
        r[0] for r in ledger_rows([first, again], at(1), 48) if r[2] == "attendance_confirmation"
    ]
    assert asks[0] == asks[1] == notification_id("pair v-1 o-1", "attendance_confirmation", "sms")


def test_an_alert_day_is_the_local_day_it_may_go_out_after_quiet_hours() -> None:
    """Fake clock: 13:00 Doha goes now; 23:30 goes at 08:00 next morning as that day's."""
    day = alert_slot(NOW, QUIET, DOHA)
    assert (day.day, day.due) == (dt.date(2026, 11, 29), NOW)
    assert day.digest_due == dt.datetime(2026, 11, 30, 0, 0, tzinfo=DOHA)
    late = dt.datetime(2026, 11, 29, 20, 30, tzinfo=dt.UTC)  # 23:30 in Doha
    night = alert_slot(late, QUIET, DOHA)
    assert night.day == dt.date(2026, 11, 30)
    assert night.due == dt.datetime(2026, 11, 30, 8, 0, tzinfo=DOHA)
    assert night.digest_due == dt.datetime(2026, 12, 1, 0, 0, tzinfo=DOHA)
    early = dt.datetime(2026, 11, 29, 22, 30, tzinfo=dt.UTC)  # 01:30 on the 30th
    assert alert_slot(early, QUIET, DOHA).day == dt.date(2026, 11, 30)
    assert alert_slot(late, None, DOHA).due == late  # no quiet hours: now


def test_an_alert_matches_the_municipality_and_the_minimum_age_by_birth_year() -> None:
    published = decoded("opportunity.published", "p-1", NOW, source="partner/o",
                        opportunity_id="o-1", campaign_id="c-1",
                        starts_at="2026-12-31T22:30:00Z", ends_at="2027-01-01T01:00:00Z",
                        municipality="al_khor", min_age=16)  # fmt: skip
    # 01:30 on 1 January in Doha: the year of the start is local.
    assert alert_cohort(published.data, DOHA) == ("al_khor", 2027 - 16)


def claimed(template: str, context: dict[str, object]) -> Claimed:
    return Claimed("ntf-1", "e-1", template, "sms", "v-1", context, 1, NOW)


def test_an_alert_needs_the_alerts_consent_and_sms_and_waits_for_quiet_hours_to_end() -> None:
    alert = claimed("opportunity_alert", {"opportunity_id": "o-1", "count": 1})
    published = {"status": "published", "starts_at": at(30)}
    assert decide(alert, CONTACT, NOW, QUIET, published).address == "+97455501234"
    no_alerts = {**CONTACT, "consent": {"sms": True, "email": True}}
    assert decide(alert, no_alerts, NOW, QUIET, published).suppress == SuppressionReason.NO_CONSENT
    no_sms = {**CONTACT, "consent": {"sms": False, "email": True, "alerts": True}}
    assert decide(alert, no_sms, NOW, QUIET, published).suppress == SuppressionReason.NO_CONSENT
    night = dt.datetime(2026, 11, 29, 19, 0, tzinfo=dt.UTC)  # 22:00 in Doha
    assert decide(alert, CONTACT, night, QUIET, published).until == dt.datetime(
        2026, 11, 30, 8, 0, tzinfo=DOHA
    )
    cancelled = {"status": "cancelled", "starts_at": at(30)}
    assert decide(alert, CONTACT, NOW, QUIET, cancelled).suppress == SuppressionReason.CANCELLED
    digest = claimed("opportunity_alert", {"opportunity_id": "o-1", "count": 2})
    assert decide(digest, CONTACT, NOW, QUIET, cancelled).address  # the others still stand


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", "new time 2026-12-01 09:00; new place Al Rayyan; 60 places"),
     ("ar", "الموعد الجديد 2026-12-01 09:00؛ المكان الجديد الريان؛ 60 مقعداً")],
)  # fmt: skip
def test_what_changed_is_told_in_the_volunteers_language_and_local_time(
    lang: str, expected: str
) -> None:
    update = decoded("opportunity.updated", "u-1", NOW, source="partner/o",
                     data={"opportunity_id": "o-1", "campaign_id": "c-1",
                           "starts_at": "2026-12-01T06:00:00Z", "municipality": "al_rayyan",
                           "capacity": 60})  # fmt: skip
    changes = told_changes(update.data)
    assert changes == {"starts_at": "2026-12-01T06:00:00+00:00", "municipality": "al_rayyan",
                       "capacity": "60"}  # fmt: skip
    assert describe_changes(changes, lang, DOHA) == expected


def history(*events: tuple[str, str, dict[str, object]]) -> list[tuple[object, ...]]:
    return [(dt.datetime.fromisoformat(t), f"e-{n}", typ, data)
            for n, (t, typ, data) in enumerate(events)]  # fmt: skip


PUBLISHED = {"opportunity_id": "o-1", "campaign_id": "c-1", "title_ar": "أ", "title_en": "A",
             "starts_at": "2026-12-01T06:00:00+00:00", "ends_at": "2026-12-01T09:00:00+00:00",
             "capacity": 5, "municipality": "doha", "min_age": 16}  # fmt: skip
MOVED = {"opportunity_id": "o-1", "campaign_id": "c-1", "capacity": 8,
         "starts_at": "2026-12-02T06:00:00+00:00", "municipality": None}  # fmt: skip


@pytest.mark.parametrize("fold", [fold_opportunity, fold_history])
def test_an_update_changes_only_what_it_carries_whatever_the_arrival_order(fold: object) -> None:
    """The notifier's and the campaigns read model's opportunity folds agree."""
    ordered = history(("2026-11-01T00:00:00+00:00", "opportunity.published", PUBLISHED),
                      ("2026-11-02T00:00:00+00:00", "opportunity.updated", MOVED))  # fmt: skip
    row = fold(ordered)  # type: ignore[operator]
    assert fold(list(reversed(ordered))) == row  # type: ignore[operator]
    assert (row["capacity"], row["starts_at"], row["municipality"]) == (
        8, "2026-12-02T06:00:00+00:00", "doha",
    )  # fmt: skip


def test_only_the_publishing_organisation_or_the_platform_may_update_an_opportunity() -> None:
    claims = {("campaign", "c-1"): "org-a", ("opportunity", "o-1"): "c-1"}
    data = {"opportunity_id": "o-1", "campaign_id": "c-1", "capacity": 3}

    def verdict(source: str, **changes: object) -> object:
        event = decoded("opportunity.updated", "u-1", NOW, source=source, **{**data, **changes})
        return judge(event, claims, NOW, TimeBounds())

    assert verdict("partner/org-a") is None
    assert verdict("platform/ops") is None
    refused = verdict("partner/org-b")
    assert isinstance(refused, Refused)
    assert refused.reason == Reason.NOT_OWNER
    other = {**claims, ("campaign", "c-2"): "org-b"}
    moved = decoded("opportunity.updated", "u-2", NOW, source="partner/org-b",
                    **{**data, "campaign_id": "c-2"})  # fmt: skip
    assert judge(moved, other, NOW, TimeBounds()).rule == "opportunity_campaign"  # type: ignore[union-attr]


def test_places_cannot_be_released_before_attendance_is_asked() -> None:
    """A release lead at or above the confirmation lead is refused, naming both settings."""
    from pydantic import ValidationError

    from infra.settings import Settings

    with pytest.raises(ValidationError, match="notify_release_lead_h must be less than"):
        Settings(notify_confirmation_lead_h=12, notify_release_lead_h=12)
    assert Leads.of(Settings()) == Leads()


def test_the_retime_index_covers_exactly_the_templates_a_change_retimes() -> None:
    """Migration 0006's partial index lists `schedule.SCHEDULED`, so RETIME can use it."""
    import re
    from pathlib import Path

    from consumers.notifications.changes import RETIME
    from consumers.notifications.schedule import SCHEDULED

    sql = (
        Path(__file__).parents[3] / "consumers/notifications/sql/0006_new_messages.sql"
    ).read_text()
    index = sql[sql.index("create index outbox_pending_opportunity") :].split(";")[0]
    assert (
        set(re.findall(r"'([a-z_0-9]+)'", index)) - {"opportunity_id", "pending", "sending"}
        == SCHEDULED
    )
    assert all(f"'{t}'" in RETIME for t in SCHEDULED)


def test_alerts_on_is_the_consent_history_in_event_time_whatever_the_arrival_order() -> None:
    """On with the registration, off by a consent change, on again by a profile update: two
    spans; in any arrival order the same (folded in time order); never on: empty."""
    at = [NOW + dt.timedelta(minutes=m) for m in range(4)]
    on, off = {"sms": True, "email": True, "alerts": True}, {"sms": True, "email": True}
    facts = [
        (at[0], "a", "volunteer.registered", {"volunteer_id": "v-1", "consent": on}),
        (at[1], "b", "volunteer.consent_changed", {"volunteer_id": "v-1", "consent": off}),
        (at[2], "c", "volunteer.profile_updated", {"volunteer_id": "v-1", "language": "en"}),
        (at[3], "d", "volunteer.consent_changed", {"volunteer_id": "v-1", "consent": on}),
    ]
    spans = {alerts_on(list(order)) for order in itertools.permutations(facts)}
    assert spans == {f'{{["{at[0].isoformat()}","{at[1].isoformat()}"),["{at[3].isoformat()}",)}}'}
    assert (
        alerts_on([*facts[:1], (at[0], "b", "volunteer.consent_changed", {"consent": off})]) == "{}"
    )
    assert alerts_on([(at[0], "a", "volunteer.registered", {"consent": off})]) == "{}"
