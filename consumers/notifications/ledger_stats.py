"""What the ledger holds, for the backlog gauges (`metrics.py`) and `tatawwu notifications status`.

`waiting`: the rows not yet finished (pending or sending), per channel and how long they
have been due (`DUE_AGES`: `later` is not due yet: a retry's backoff, a reminder, quiet
hours), each with its oldest due time; it reads the `outbox_due` partial index only.
`totals`: every row by channel, template and state (a full count: for the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (label, due for less than this many seconds); the last bucket is open-ended.
DUE_AGES: tuple[tuple[str, float], ...] = (
    ("0_1m", 60), ("1_5m", 300), ("5_15m", 900), ("15_60m", 3600), ("1h_plus", float("inf")),
)  # fmt: skip
NOT_DUE = "later"
AGE_LABELS = (NOT_DUE, *(label for label, _ in DUE_AGES))
_CASE = " ".join(f"when due_s < {limit} then '{label}'" for label, limit in DUE_AGES[:-1])
WAITING = f"""
select channel, case when due_s < 0 then '{NOT_DUE}' {_CASE} else '{DUE_AGES[-1][0]}' end
       as due_age, count(*) as n, max(due_s) as oldest_s
from (select channel, extract(epoch from now() - next_attempt_at)::float8 as due_s
      from outbox where status in ('pending', 'sending')) w
group by 1, 2
"""


@dataclass(frozen=True)
class Waiting:
    """Rows of one channel not yet finished, due for `due_age` (`later`: not yet due)."""

    channel: str
    due_age: str
    count: int
    oldest_s: float  # how long the oldest has been due (negative: due in that long)


async def waiting(conn: Any) -> list[Waiting]:
    """The unfinished rows by channel and due age (a connection or a pool)."""
    rows = await conn.fetch(WAITING)
    return [Waiting(r["channel"], r["due_age"], r["n"], float(r["oldest_s"])) for r in rows]


async def totals(conn: Any) -> list[dict[str, Any]]:
    """Every row by channel, template and state, with counts."""
    rows = await conn.fetch(
        "select channel, template, status, count(*) as n from outbox group by 1, 2, 3"
        " order by 1, 2, 3"
    )
    return [dict(r) for r in rows]


def oldest_due_s(rows: list[Waiting], channel: str | None = None) -> float:
    """How long the oldest row due now has been waiting past its time (0: none)."""
    due = [r.oldest_s for r in rows if r.due_age != NOT_DUE and channel in (None, r.channel)]
    return max(0.0, *due) if due else 0.0
