"""Erasure in the pure folds: whatever the order, nothing personal survives `volunteer.erased`."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from consumers.history import PERSONAL, History
from consumers.notifications.rules import fold_contact
from consumers.participation.rules import fold_demographics
from consumers.volunteers.rules import fold_profile
from schemas.examples import example

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def entry(minutes: int, tie: str, event_type: str, data: dict[str, Any]) -> Any:
    return (T0 + dt.timedelta(minutes=minutes), tie, event_type, data)


def history() -> History:
    registered = example("volunteer.registered")["data"]
    update = {"volunteer_id": registered["volunteer_id"], "phone": "+97433300011"}
    erased = {"volunteer_id": registered["volunteer_id"]}
    return [
        entry(0, "a", "volunteer.registered", registered),
        entry(5, "b", "volunteer.profile_updated", update),
        entry(9, "c", "volunteer.erased", erased),
    ]


def test_every_order_of_arrival_folds_to_the_same_erased_profile() -> None:
    """Erasure wins in any order; the non-personal columns stay."""
    rows = [fold_profile(list(order)) for order in itertools.permutations(history())]
    assert all(row == rows[0] for row in rows)
    row = rows[0]
    assert row["status"] == "erased"
    assert all(row.get(field) is None for field in PERSONAL)
    assert row["language"] == "ar"
    assert row["consent"] == {"sms": True, "email": False}


def test_the_participation_and_notifier_folds_lose_the_volunteer_too() -> None:
    """Demographics become unknown; the notifier has nobody to contact."""
    assert set(fold_demographics(history()).values()) == {None}
    contact = fold_contact(history())
    assert (contact["given_name"], contact["phone"], contact["email"]) == (None, None, None)


def test_a_field_that_could_not_be_opened_folds_to_nothing() -> None:
    """A replayed field whose key is gone is still an encrypted object: it counts as absent."""
    registered = dict(example("volunteer.registered")["data"])
    registered["phone"] = {"enc": "aes-256-gcm", "kid": "k" * 16, "iv": "A" * 16, "ct": "B" * 40}
    row = fold_profile([entry(0, "a", "volunteer.registered", registered)])
    assert row["phone"] is None
    assert row["given_name"] == "Fatima"
    assert row["status"] == "registered"
