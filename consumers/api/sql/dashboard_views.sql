-- The `dashboard` schema: stable views for BI tools (Grafana, Metabase, Superset) over
-- the projectors' read models. No personal data; counts of 1..k-1 distinct volunteers
-- in a demographic breakdown are withheld (same rule as the read API).
-- Placeholders: {d} dashboard schema, {c} {o} {p} the campaigns, organizations and
-- participation schemas, {k} the minimum cell. Each view starts with "-- view: <name>
-- needs: <read models>"; consumers/api/dashboard_sql.py drops and recreates them.

-- view: participation_national needs: participation
create view {d}.participation_national as
with active as (
    select count(distinct volunteer_id) as active from {p}.activity
    where activity_time > now() - interval '365 days' and activity_time <= now()
), pop as (
    select coalesce(sum(population), 0)::bigint as population from {p}.population
)
select now() as as_of,
       case when a.active > 0 and a.active < {k} then null else a.active end as active,
       p.population,
       case when (a.active > 0 and a.active < {k}) or p.population = 0 then null
            else round(a.active::numeric / p.population, 6) end as rate,
       a.active > 0 and a.active < {k} as suppressed,
       0.10::numeric as target_rate,
       date '2030-12-31' as target_date
from active a, pop p;
comment on view {d}.participation_national is
    'National participation KPI now: volunteers active (checked in or verified hours) in the trailing 365 days over the eligible population, against the 10% by 2030 target.';
comment on column {d}.participation_national.active is 'Distinct active volunteers (null when suppressed: fewer than the minimum cell).';
comment on column {d}.participation_national.rate is 'active / population (null when suppressed).';

-- view: participation_by_dimension needs: participation
create view {d}.participation_by_dimension as
with active as (
    select distinct volunteer_id from {p}.activity
    where activity_time > now() - interval '365 days' and activity_time <= now()
), profiles as (
    select coalesce(v.municipality, 'unknown') as municipality,
           coalesce(v.gender, 'unknown') as gender,
           {p}.age_band(v.birth_year, now()) as age_band,
           coalesce(v.nationality_group, 'unknown') as nationality_group
    from active a left join {p}.volunteer_profiles v using (volunteer_id)
), counts as (
    select 'municipality'::text as dimension, municipality as value, count(*) as active from profiles group by 2
    union all select 'gender', gender, count(*) from profiles group by 2
    union all select 'age_band', age_band, count(*) from profiles group by 2
    union all select 'nationality_group', nationality_group, count(*) from profiles group by 2
), pop as (
    select 'municipality'::text as dimension, municipality as value, sum(population) as population from {p}.population group by 2
    union all select 'gender', gender, sum(population) from {p}.population group by 2
    union all select 'age_band', age_band, sum(population) from {p}.population group by 2
    union all select 'nationality_group', nationality_group, sum(population) from {p}.population group by 2
), cells as (
    select coalesce(c.dimension, q.dimension) as dimension, coalesce(c.value, q.value) as value,
           coalesce(c.active, 0) as active, coalesce(q.population, 0)::bigint as population
    from counts c full join pop q on q.dimension = c.dimension and q.value = c.value
), marked as (
    select *, active > 0 and active < {k} as small,
           count(*) filter (where active > 0 and active < {k}) over (partition by dimension) as small_in_dimension,
           row_number() over (partition by dimension, active >= {k} order by active, value collate "C") as rank_in_group
    from cells
), decided as (
    select *, small or (small_in_dimension = 1 and active >= {k} and rank_in_group = 1) as suppressed
    from marked
)
select dimension, value,
       case when suppressed then null else active end as active,
       population,
       case when suppressed or population = 0 then null
            else round(active::numeric / population, 6) end as rate,
       suppressed
from decided;
comment on view {d}.participation_by_dimension is
    'Participation rate now by municipality, gender, age_band and nationality_group (one row per dimension and value). Counts of 1..k-1 volunteers are withheld, and the smallest other cell too when a dimension would otherwise reveal one by subtraction.';
comment on column {d}.participation_by_dimension.dimension is 'municipality, gender, age_band or nationality_group.';
comment on column {d}.participation_by_dimension.suppressed is 'True when active and rate are withheld to protect small groups.';

-- view: participation_monthly needs: participation
create view {d}.participation_monthly as
with months as (
    select least(g + interval '1 month' - interval '1 microsecond', now()) as month_end
    from generate_series(date_trunc('month', now() - interval '23 months'), now(), interval '1 month') g
), pop as (
    select coalesce(sum(population), 0)::bigint as population from {p}.population
), counts as (
    select m.month_end, count(distinct a.volunteer_id) as active
    from months m left join {p}.activity a
      on a.activity_time > m.month_end - interval '365 days' and a.activity_time <= m.month_end
    group by m.month_end
)
select date_trunc('month', c.month_end)::date as month,
       case when c.active > 0 and c.active < {k} then null else c.active end as active,
       case when (c.active > 0 and c.active < {k}) or p.population = 0 then null
            else round(c.active::numeric / p.population, 6) end as rate,
       c.active > 0 and c.active < {k} as suppressed
from counts c, pop p;
comment on view {d}.participation_monthly is
    'National participation rate at the end of each of the last 24 months (trailing 365-day window), for the trajectory chart.';

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
select date_trunc('hour', checked_in_at) as hour, count(*) as check_ins
from {p}.participations
where coalesce(checked_in_at, first_verified_at) > now() - interval '30 days'
  and (checked_in_at is not null or hours is not null)
  and checked_in_at > now() - interval '30 days'
group by 1;
comment on view {d}.check_ins_hourly is
    'Check-ins (first check-in of a volunteer on an opportunity) per hour over the last 30 days.';

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
