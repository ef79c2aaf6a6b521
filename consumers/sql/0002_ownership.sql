-- The trust boundary in every projector (schemas/ownership.py). Claims live in the
-- platform's shared registry (infra/claims.py), not here.

-- Facts whose owner cannot be decided yet (the claim they need has not arrived: cross-
-- topic order is not guaranteed). Each batch applies or refuses the ones whose claim has
-- arrived. Keyed by origin, so a retried batch parks each record once.
create table _parked (
    topic           text    not null,
    kafka_partition integer not null,
    kafka_offset    bigint  not null,
    needs_kind      text    not null,
    needs_id        text    not null,
    event_identity  text    not null,
    record          jsonb   not null,
    parked_at       timestamptz not null default now(),
    primary key (topic, kafka_partition, kafka_offset)
);
create index _parked_needs on _parked (needs_kind, needs_id);

-- An event's identity is its `source` and `id` together (CloudEvents): rows written
-- from now on hold "<source> <id>" (neither can contain a space).
comment on column _events.event_id is 'event identity: source, a space, id';
