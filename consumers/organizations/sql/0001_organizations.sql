-- `history` and `participations` come from the shared components applied before.
create index participations_campaign on participations (campaign_id);

create table organizations (
    org_id        text primary key,
    name_ar       text,
    name_en       text,
    sector        text,
    status        text not null,
    registered_at timestamptz
);

-- Which organisation launched each campaign (campaign ids are unique platform-wide).
create table org_campaigns (
    campaign_id text primary key,
    org_id      text not null
);
create index org_campaigns_org on org_campaigns (org_id);

create view organization_stats as
select
    o.org_id, o.name_ar, o.name_en, o.sector, o.status,
    (select count(*) from org_campaigns c where c.org_id = o.org_id)            as campaigns,
    count(distinct p.volunteer_id)
        filter (where p.checked_in_at is not null or p.hours is not null)       as volunteers_engaged,
    coalesce(sum(p.hours), 0)::numeric(12, 2)                                   as verified_hours
from organizations o
left join org_campaigns c on c.org_id = o.org_id
left join participations p on p.campaign_id = c.campaign_id
group by o.org_id;

create view sector_stats as
select
    o.sector,
    count(distinct o.org_id)                                                    as organizations,
    count(distinct c.campaign_id)                                               as campaigns,
    count(distinct p.volunteer_id)
        filter (where p.checked_in_at is not null or p.hours is not null)       as volunteers_engaged,
    coalesce(sum(p.hours), 0)::numeric(12, 2)                                   as verified_hours
from organizations o
left join org_campaigns c on c.org_id = o.org_id
left join participations p on p.campaign_id = c.campaign_id
group by o.sector;
