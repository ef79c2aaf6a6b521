-- Bookkeeping every projector keeps beside its read model, in the same schema, so a
-- rebuild (a new schema swapped in) carries its own offsets, seen ids and counters.

-- The next Kafka offset to apply per partition: the source of truth for where to
-- resume. Written in the same transaction as the read-model changes.
create table _offsets (
    topic           text    not null,
    kafka_partition integer not null,
    next_offset     bigint  not null default 0,
    updated_at      timestamptz not null default now(),
    primary key (topic, kafka_partition)
);

-- Every event id applied: re-sending an id changes nothing.
create table _events (
    event_id text primary key
);

-- Records this projector could not process, also sent to tatawwu.deadletter.
-- Keyed by origin, so a batch retried after a crash counts each record once.
create table _deadletters (
    topic           text    not null,
    kafka_partition integer not null,
    kafka_offset    bigint  not null,
    reason          text    not null,
    detail          text    not null,
    event_id        text,
    event_type      text,
    dead_at         timestamptz not null default now(),
    primary key (topic, kafka_partition, kafka_offset)
);

create table _stats (
    singleton        boolean primary key default true check (singleton),
    events_applied   bigint  not null default 0,
    duplicates       bigint  not null default 0,
    ignored          bigint  not null default 0,
    dead_lettered    bigint  not null default 0,
    batches          bigint  not null default 0,
    last_event_time  timestamptz,
    last_applied_at  timestamptz
);
insert into _stats default values;
