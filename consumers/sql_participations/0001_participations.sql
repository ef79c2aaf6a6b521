-- One row per (volunteer, opportunity), merged with the rules in consumers/participations.py.
-- Secondary indexes are left to each read model (only what its views need): every index
-- is paid on every upsert. fillfactor leaves room for HOT updates of merged rows.
create table participations (
    volunteer_id      text not null,
    opportunity_id    text not null,
    campaign_id       text not null,
    signup_status     text,
    signup_time       timestamptz,
    signup_event      text,
    checked_in_at     timestamptz,
    checked_out_at    timestamptz,
    hours             numeric(6, 2),
    hours_time        timestamptz,
    hours_event       text,
    first_verified_at timestamptz,
    no_show           boolean not null default false,
    primary key (volunteer_id, opportunity_id)
) with (fillfactor = 80);
