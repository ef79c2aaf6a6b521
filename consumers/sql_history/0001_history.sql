-- Low-volume entity events (organisations, campaigns, opportunities, volunteer
-- profiles), kept so an entity row can be refolded in (time, id) order whatever
-- order its events arrived in. See consumers/history.py.
create table history (
    event_id     text primary key,
    aggregate    text not null,
    aggregate_id text not null,
    event_time   timestamptz not null,
    event_type   text not null,
    data         jsonb not null
);
create index history_aggregate on history (aggregate, aggregate_id);
