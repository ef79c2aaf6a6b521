-- The national participation KPI's tables. Rates are computed at query time
-- (consumers/participation/kpi.py) for any as-of date.

-- Demographics only (no names or contacts): what the breakdowns need.
create table volunteer_profiles (
    volunteer_id      text primary key,
    birth_year        integer,
    gender            text,
    nationality_group text,
    municipality      text
);

-- Eligible population, loaded from infra/population.csv at start-up (see its header
-- for the source: the shipped figures are illustrative).
create table population (
    municipality      text    not null,
    gender            text    not null,
    age_band          text    not null,
    nationality_group text    not null,
    population        integer not null check (population >= 0),
    primary key (municipality, gender, age_band, nationality_group)
);

create function age_band(birth_year integer, as_of timestamptz) returns text
language sql immutable as $$
    select case
        when birth_year is null then 'unknown'
        when extract(year from as_of at time zone 'UTC')::int - birth_year < 18 then '10-17'
        when extract(year from as_of at time zone 'UTC')::int - birth_year < 25 then '18-24'
        when extract(year from as_of at time zone 'UTC')::int - birth_year < 35 then '25-34'
        when extract(year from as_of at time zone 'UTC')::int - birth_year < 45 then '35-44'
        when extract(year from as_of at time zone 'UTC')::int - birth_year < 55 then '45-54'
        when extract(year from as_of at time zone 'UTC')::int - birth_year < 65 then '55-64'
        else '65+' end
$$;

-- One row per attended pair with its activity time (earliest check-in, else first
-- verification): the input of every "active in the trailing 12 months" question.
create view activity as
select volunteer_id, coalesce(checked_in_at, first_verified_at) as activity_time, hours
from participations
where checked_in_at is not null or hours is not null;
create index participations_activity on participations ((coalesce(checked_in_at, first_verified_at)))
    where checked_in_at is not null or hours is not null;
