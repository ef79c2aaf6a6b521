"""The exactly-once projector runtime, written once and shared by every read model.

A projector declares its topics, its tables (migrations) and an `apply` coroutine
(`projector.py`); the runtime owns consuming, seeking, batching, deduplication,
dead-lettering, metrics and shutdown. For each batch, in ONE PostgreSQL transaction
(`transaction.py`):

1. lock the stored offsets of the batch's partitions (row locks, taken by an
   `on conflict do update` that changes nothing) and drop every record below them: a
   rebalance or a retry can redeliver what another member (or an earlier attempt)
   already applied, and the lock orders the two writers (`plan.py`: skips, gaps and
   next offsets, computed without I/O);
2. record dead letters (sent to `tatawwu.deadletter` before the commit, so none is
   lost; the `_deadletters` key makes a retried batch count each record once:
   `deadletters.py`);
3. insert the events' identities (`source` + `id`) into `_events`; only those not seen
   before go on: nothing counted as a duplicate is ever applied;
4. judge the fresh events with the ownership rules (`schemas.ownership`, `gate.py`): a
   fact from a non-owner, a suspended organisation or with an out-of-bounds time is a
   dead letter (reason `not_owner`, ...); a fact whose owner is not known yet (its claim
   has not arrived: cross-topic order is not guaranteed) is parked in `_parked` until it
   has; parked facts whose claim this batch brought are judged again;
5. `apply` the accepted events; 6. store the next offsets and counters; commit.

All SQL over the bookkeeping tables is in `bookkeeping.py`, for the tools too.

Records are decoded in either CloudEvents content mode (`schemas.binding.decode_record`):
structured (the value is the event, what the platform writes) or binary (`ce_` headers,
the value its data, as the SDKs write). A structured record costs one scan of its header
names on top of `decode_event` (CPU per record: benchmarks/bench_projector_cpu.py).

Trace context (W3C `traceparent` Kafka headers, `infra.tracing`): log lines about records
name their traces without making the hot path pay per record.

- `batch_applied` carries `trace_ids`: the first few distinct traces (TRACES_LOGGED)
  among the batch's first records (TRACE_SCAN), read while decoding, i.e. while the
  previous batch's transaction is in flight. Enough to go from a gateway request to the
  batch that applied it; not a list of every trace in the batch.
- Lines about specific records carry the exact `trace_id` of the record they name as
  `first`, plus the first few `trace_ids` among them: `dead_lettered` (bad records,
  ownership refusals, apply failures) and `facts_parked`.
- An `apply` that needs its events' traces asks `batch.applying_traces(events)` (the
  runtime sets the records being applied in a context variable; nothing is computed
  unless asked): the notifier keeps each message's cause trace in its ledger.

No trace is made current while a batch is applied (no `tracing.begin`): a batch mixes
many traces, and the contextvars would leak into the loop's next lines.

Why raw aiokafka under the projector loop (`loop.py`) rather than a FastStream
subscriber, checked against the FastStream 0.7.8 installed here:

- Not because FastStream could not seek to PostgreSQL's offsets: its subscribers take a
  `listener=` (`faststream/kafka/broker/registrator.py`, handed to `consumer.subscribe`
  by `LogicSubscriber.start` in `faststream/kafka/subscriber/usecase.py`) and expose the
  consumer (`KafkaMessage.consumer`, `faststream/kafka/message.py`).
- Its loop cannot overlap fetch and apply: `LogicSubscriber._run_consume_loop` awaits
  `get_msg` (one `getmany`, `BatchSubscriber.get_msg`) and then `consume_one` for that
  batch before fetching again, so the fetch and decode of batch N+1 never run while
  batch N's transaction waits on PostgreSQL, the pipeline this loop is built on
  (benchmarks/bench_projectors.py). Its concurrent subscribers do not help: `max_workers`
  is ignored for batch subscribers and concurrent manual commits need a single topic
  (`_validate_input_for_misconfigure`, `faststream/kafka/subscriber/factory.py`), while a
  projector consumes three or four.
- Its failure handling is not ours: `SubscriberUsecase.consume`
  (`faststream/_internal/endpoint/subscriber/usecase.py`) logs and swallows every handler
  exception but `StopConsume` and `SystemExit`, so `ProjectorBroken` would not stop the
  process and a database outage would not back off; and a batch `nack` rewinds to the
  batch's own first records (`KafkaAckableMessage.nack`), not to the offsets PostgreSQL
  holds. In 0.7.8 as installed here that `nack` rewinds every partition of the batch;
  the ag2ai/faststream source of other releases seeks `raw_message[0]`'s partition only,
  which would skip the failed records of the other partitions. The batch also arrives flattened (`tuple(chain(*messages.values()))`), losing
  the per-partition grouping the batch plan reads.

Kafka's committed offsets are written too, but only so `kafka-consumer-groups` and
`tatawwu projections status` can show lag.

Speed (benchmarks/bench_projectors.py): batches are pipelined (the next one is fetched
and decoded while the current transaction runs, in slices that yield so its statements
are never held up), big parameters travel as one JSON document rather than arrays, and
projector processes tune the garbage collector (`process.tune_gc`).
"""

from __future__ import annotations

from consumers.runtime.batch import (
    BatchOutcome,
    Dead,
    DecodedBatch,
    Fetched,
    Pair,
    Record,
    decode_batch,
    identity,
)
from consumers.runtime.bookkeeping import BOOKKEEPING, prepare_schema
from consumers.runtime.errors import TRANSIENT, OffsetGap, ProjectorBroken
from consumers.runtime.loop import ProjectorRuntime
from consumers.runtime.plan import BatchPlan, plan_batch
from consumers.runtime.process import GC_THRESHOLDS, run_projector, tune_gc
from consumers.runtime.projector import Accumulator, Applier, Apply, Projector, applier

__all__ = [
    "BOOKKEEPING",
    "GC_THRESHOLDS",
    "TRANSIENT",
    "Accumulator",
    "Applier",
    "Apply",
    "BatchOutcome",
    "BatchPlan",
    "Dead",
    "DecodedBatch",
    "Fetched",
    "OffsetGap",
    "Pair",
    "Projector",
    "ProjectorBroken",
    "ProjectorRuntime",
    "Record",
    "applier",
    "decode_batch",
    "identity",
    "plan_batch",
    "prepare_schema",
    "run_projector",
    "tune_gc",
]
