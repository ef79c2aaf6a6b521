-- The `dashboard` schema: stable views for BI tools (Grafana, Metabase, Superset) over
-- the projectors' read models. No personal data; participation is the read API's own
-- national document of the latest complete day, copied into participation_published
-- (consumers/api/kpi.py), so the views withhold exactly the cells the API withholds.
-- Placeholders: {d} dashboard schema, {c} {o} {p} the campaigns, organizations and
-- participation schemas, {k} the minimum cell. Each view starts with "-- view: <name>
-- needs: <read models>"; consumers/api/dashboard_sql.py drops and recreates them.

-- view: participation_national needs: participation
create view {d}.participation_national as
select as_of, data_through, active, population, rate, suppressed,
       0.10::numeric as target_rate, date '2030-12-31' as target_date
from {d}.participation_published where dimension = 'national';
comment on view {d}.participation_national is
    'National participation KPI of the latest complete day in Qatar: volunteers active (checked in or verified hours) in the trailing 365 days over the eligible population, against the 10% by 2030 target. The read API''s national document, cell for cell (consumers/api/DISCLOSURE.md).';
comment on column {d}.participation_national.active is 'Distinct active volunteers (null when withheld: fewer than the minimum cell, or withheld to protect one).';
comment on column {d}.participation_national.rate is 'active / population (null when withheld).';

-- view: participation_by_dimension needs: participation
create view {d}.participation_by_dimension as
select dimension, value, active, population, rate, suppressed, as_of, data_through
from {d}.participation_published
where dimension in ('municipality', 'gender', 'age_band', 'nationality_group');
comment on view {d}.participation_by_dimension is
    'Participation rate of the latest complete day by municipality, gender, age_band and nationality_group (one row per dimension and value): the read API''s national breakdowns with the same cells withheld (counts of 1..k-1, and their complements, so that no subtraction against the totals, the other cells or the municipality filters reveals one).';
comment on column {d}.participation_by_dimension.dimension is 'municipality, gender, age_band or nationality_group.';
comment on column {d}.participation_by_dimension.suppressed is 'True when active and rate are withheld to protect small groups.';

-- view: participation_monthly needs: participation
create view {d}.participation_monthly as
select to_date(value, 'YYYY-MM') as month, active, rate, suppressed
from {d}.participation_published where dimension = 'month';
comment on view {d}.participation_monthly is
    'National participation rate at the end of each month (trailing 365-day window) up to the latest complete day, as the read API publishes it.';

-- view: campaign_stats needs: campaigns
create view {d}.campaign_stats as {campaign_rows};
comment on view {d}.campaign_stats is
    'Every campaign with sign-ups, check-ins, no-shows, verified hours, distinct volunteers attended, fill rate (filled seats / seats of opportunities not cancelled) and progress against its targets.';
comment on column {d}.campaign_stats.fill_rate is 'Sum over its non-cancelled opportunities of least(sign-ups, capacity) / total capacity; null without capacity.';

-- view: opportunity_stats needs: campaigns
create view {d}.opportunity_stats as
select o.opportunity_id, o.campaign_id, o.title_ar, o.title_en, o.municipality, o.starts_at,
       o.ends_at, s.capacity, s.status, s.signups, s.withdrawals, s.waitlisted, s.check_ins,
       s.no_shows, s.verified_hours, s.unverified_hours, s.fill_rate
from {c}.opportunities o join {c}.opportunity_stats s using (opportunity_id);
comment on view {d}.opportunity_stats is
    'Every opportunity with sign-ups, wait-list, check-ins, no-shows, verified and unverified hours and fill rate.';

-- view: check_ins_hourly needs: participation
create view {d}.check_ins_hourly as
with counts as (
    select date_trunc('hour', checked_in_at) as hour, count(*) as n
    from {p}.participations
    where coalesce(checked_in_at, first_verified_at) > now() - interval '30 days'
      and (checked_in_at is not null or hours is not null)
      and checked_in_at > now() - interval '30 days'
      and checked_in_at < date_trunc('hour', now())
    group by 1
)
select hour, case when n < {k} then null else n end as check_ins, n < {k} as suppressed
from counts;
comment on view {d}.check_ins_hourly is
    'Check-ins (first check-in of a volunteer on an opportunity) per complete hour over the last 30 days; counts of 1..k-1 withheld (null), the open hour never shown (consumers/api/DISCLOSURE.md).';

-- view: organization_stats needs: organizations
create view {d}.organization_stats as
select org_id, name_ar, name_en, sector, status, campaigns, volunteers_engaged, verified_hours
from {o}.organization_stats;
comment on view {d}.organization_stats is
    'Every partner organisation: sector, accreditation status, campaigns launched, distinct volunteers engaged, verified hours.';

-- view: sector_stats needs: organizations
create view {d}.sector_stats as
select sector, organizations, campaigns, volunteers_engaged, verified_hours
from {o}.sector_stats;
comment on view {d}.sector_stats is
    'Per sector: organisations, campaigns, distinct volunteers engaged across the sector, verified hours.';

-- view: projection_freshness needs: campaigns volunteers organizations participation
create view {d}.projection_freshness as
select 'campaigns'::text as projection, events_applied, duplicates, dead_lettered,
       last_event_time, last_applied_at,
       extract(epoch from now() - last_applied_at)::float8 as seconds_since_applied
from {c}._stats
union all select 'volunteers', events_applied, duplicates, dead_lettered, last_event_time,
       last_applied_at, extract(epoch from now() - last_applied_at)::float8 from {v}._stats
union all select 'organizations', events_applied, duplicates, dead_lettered, last_event_time,
       last_applied_at, extract(epoch from now() - last_applied_at)::float8 from {o}._stats
union all select 'participation', events_applied, duplicates, dead_lettered, last_event_time,
       last_applied_at, extract(epoch from now() - last_applied_at)::float8 from {p}._stats;
comment on view {d}.projection_freshness is
    'Per projection: events applied, duplicates ignored, records dead-lettered, time of the latest event applied and when the last batch was applied (Kafka lag: GET /v1/projections).';
