-- The trace id (W3C Trace Context) the cause event's record carried, when it had one:
-- the sender's log lines for a message name the trace that caused it. Nullable: rows
-- enqueued before this column, and causes sent without a traceparent, have none.
alter table outbox add column cause_trace_id text;
