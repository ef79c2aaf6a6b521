"""What a batch shows: Prometheus metrics and its one summary log line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from consumers import metrics
from consumers.runtime.batch import BatchOutcome, Record
from infra.logging import correlation_from_headers

CORRELATION_IDS_LOGGED = 5  # requests named in a batch's log line


def observe_batch(
    log: structlog.stdlib.BoundLogger,
    projector: str,
    records: Sequence[Record],
    outcome: BatchOutcome,
    elapsed: float,
    consumer: Any,
) -> None:
    """Count a batch in the metrics and log its summary line (nothing for an idle look)."""
    if not records and not (outcome.unparked or outcome.dead):
        return  # an idle look at parked facts that freed none
    metrics.EVENTS.labels(projector, "applied").inc(outcome.applied)
    metrics.EVENTS.labels(projector, "duplicate").inc(outcome.duplicates)
    metrics.EVENTS.labels(projector, "dead_lettered").inc(outcome.dead)
    metrics.PARKED.labels(projector).inc(outcome.parked)
    for rule, count in outcome.rules.items():
        metrics.REFUSED.labels(projector, rule).inc(count)
    metrics.BATCH_SIZE.labels(projector).observe(len(records))
    metrics.APPLY_SECONDS.labels(projector).observe(elapsed)
    assigned = consumer.assignment() if consumer is not None else set()
    for tp in outcome.offsets:
        # A rebalance may have revoked the partition since the batch began.
        high = consumer.highwater(tp) if tp in assigned else None
        if high is not None:
            metrics.LAG.labels(projector, tp.topic, str(tp.partition)).set(
                max(0, high - outcome.offsets[tp])
            )
    log.info(
        "batch_applied",
        correlation_ids=correlation_ids(records),
        events=len(records),
        applied=outcome.applied,
        duplicates=outcome.duplicates,
        skipped=outcome.skipped,
        dead=outcome.dead,
        refused=outcome.refused,
        parked=outcome.parked,
        unparked=outcome.unparked,
        duration_ms=round(elapsed * 1000, 1),
    )


def correlation_ids(records: Sequence[Record]) -> list[str]:
    """The first few requests (gateway correlation ids) a batch carried, in order.

    So an operator can follow one partner request from the gateway's log line to the
    batch that applied it.
    """
    found: list[str] = []
    for record in records:
        cid = correlation_from_headers(record.headers) if record.headers else None
        if cid and cid not in found:
            found.append(cid)
            if len(found) == CORRELATION_IDS_LOGGED:
                break
    return found
