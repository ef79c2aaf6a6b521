-- The KPI as a projection (consumers/participation/coverage.py and maintain.py): kept in
-- the batch's transaction, so that the KPI of any Qatar day is a lookup, not a scan of
-- `activity` (scan.py keeps the scan, the reference these tables must equal).

-- Per volunteer with attended activity: its Qatar activity days (attended pairs and
-- verified hours of each), its UTC activity days (for the monthly series, counted at UTC
-- month ends) and the cell it is counted in (its profile as known now).
create table kpi_volunteers (
    volunteer_id      text primary key,
    municipality      text    not null,
    gender            text    not null,
    nationality_group text    not null,
    birth_year        integer,
    days              date[]  not null,
    day_pairs         integer[] not null,
    day_hours         numeric[] not null,
    utc_days          date[]  not null,
    utc_pairs         integer[] not null
);

-- Active volunteers per Qatar day and cell, as one Fenwick tree per calendar year: the
-- count on day D is the sum of the nodes `coverage.prefix_nodes(D)` of D's year.
create table kpi_active (
    year              smallint not null,
    node              smallint not null,
    municipality      text     not null,
    gender            text     not null,
    age_band          text     not null,
    nationality_group text     not null,
    active            integer  not null,
    primary key (year, node, municipality, gender, age_band, nationality_group)
);

-- Active volunteers at the end of each UTC month, by municipality.
create table kpi_monthly (
    month        date    not null,
    municipality text    not null,
    active       integer not null,
    primary key (month, municipality)
);

-- Verified hours by Qatar activity day and municipality, and in all.
create table kpi_hours (
    day          date           not null,
    municipality text           not null,
    hours        numeric(14, 2) not null,
    primary key (day, municipality)
);
create table kpi_hours_total (
    municipality text primary key,
    hours        numeric(16, 2) not null
);
