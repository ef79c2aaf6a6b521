-- Every claim the gateway has accepted (schemas/ownership.py), first claim wins and never
-- changes: campaign -> owning organisation, opportunity -> its campaign, volunteer ->
-- registrar, organisation -> when suspended. Written before the claiming fact is sent to
-- Kafka, so the gateway (and the Kafka-ingress router, which shares it) decides at once.
create table gateway_claims (
    kind       text        not null,
    id         text        not null,
    owner      text        not null,
    claimed_at timestamptz not null default now(),
    primary key (kind, id)
);
insert into gateway_claims (kind, id, owner, claimed_at)
select 'campaign', campaign_id, org_id, claimed_at from gateway_campaign_owners
on conflict do nothing;
