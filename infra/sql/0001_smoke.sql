-- The round trip that `tatawwu infra smoke` (and `make demo` at this stage) proves:
-- an event published to Kafka, consumed, stored here with the offset it came from.
create table smoke_events (
    event_id     text        primary key,
    topic        text        not null,
    kafka_partition integer  not null,
    kafka_offset bigint      not null,
    published_at timestamptz not null,
    stored_at    timestamptz not null default now()
);
