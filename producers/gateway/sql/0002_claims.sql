-- Campaign owners move to the platform's claims registry (infra/claims.py), which the
-- gateway, the Kafka-ingress router and every projector share. Same DDL as
-- infra/claims.py (idempotent), then the owners claimed so far.
create schema if not exists ownership;
create table if not exists ownership.claims (
    kind       text        not null,
    id         text        not null,
    owner      text        not null,
    claimed_at timestamptz not null default now(),
    primary key (kind, id)
);
insert into ownership.claims (kind, id, owner, claimed_at)
select 'campaign', campaign_id, org_id, claimed_at from gateway_campaign_owners
on conflict do nothing;
