-- Dead letters already re-published by `tatawwu dlq replay`, by origin, so a second
-- replay does not send the same record again.
create table dlq_replays (
    topic           text    not null,
    kafka_partition integer not null,
    kafka_offset    bigint  not null,
    replayed_at     timestamptz not null default now(),
    primary key (topic, kafka_partition, kafka_offset)
);
