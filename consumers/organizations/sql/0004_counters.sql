-- Counters instead of scans (issue 13: the dashboard at national size), as in the
-- campaigns read model (its 0002_counters.sql): `organization_stats` and `sector_stats`
-- aggregated every participation on each read. Kept here by statement-level triggers,
-- in the batch's transaction, from each statement's old and new rows:
--   * on `participations`: hours per campaign, and attended rows per (campaign,
--     volunteer) and per (organisation, volunteer) through the campaign's owner;
--   * on `org_campaigns`: a campaign whose owner is recorded or changes moves its
--     attended rows from the old owner to the new one;
--   * on `organizations`: an organisation that appears or changes sector moves its
--     attended rows from the old sector to the new one.
-- A volunteer engaged with an organisation or a sector is one with at least one
-- attended row there (count(distinct) kept as reference counts, `engaged`), so the
-- counts are exact whatever order facts arrive in; rows that come to zero are deleted.

create table campaign_hours (
    campaign_id text primary key,
    hours       numeric(14, 2) not null
);

-- scope 'campaign' | 'org' | 'sector' (an organisation without a sector: key '').
create table engaged (
    scope        text    not null,
    key          text    not null,
    volunteer_id text    not null,
    attended     integer not null,
    primary key (scope, key, volunteer_id)
);

create table engaged_counts (
    scope      text   not null,
    key        text   not null,
    volunteers bigint not null,
    primary key (scope, key)
);

-- Add attended rows (signed) of volunteers to keys of a scope; an organisation's rows
-- go on to its sector.
create function engage(p_scope text, p_keys text[], p_volunteers text[], p_deltas integer[])
returns void language plpgsql as $$
declare
    sectors text[];
    volunteers text[];
    deltas integer[];
begin
    if p_keys is null then
        return;
    end if;
    with d as (
        select u.k, u.v, sum(u.n)::int as n
        from unnest(p_keys, p_volunteers, p_deltas) as u(k, v, n)
        where u.k is not null group by u.k, u.v having sum(u.n) <> 0
    ), kept as (
        insert into engaged as t select p_scope, d.k, d.v, d.n from d
        on conflict (scope, key, volunteer_id) do update set attended = t.attended + excluded.attended
        returning t.key, t.volunteer_id, t.attended
    ), moves as (
        select k.key, sum(case when k.attended > 0 and k.attended - d.n <= 0 then 1
                               when k.attended <= 0 and k.attended - d.n > 0 then -1
                               else 0 end) as n
        from d join kept k on k.key = d.k and k.volunteer_id = d.v group by k.key
    )
    insert into engaged_counts as t select p_scope, m.key, m.n from moves m where m.n <> 0
    on conflict (scope, key) do update set volunteers = t.volunteers + excluded.volunteers;
    delete from engaged t using unnest(p_keys, p_volunteers) as u(k, v)
    where t.scope = p_scope and t.key = u.k and t.volunteer_id = u.v and t.attended = 0;
    delete from engaged_counts t using unnest(p_keys) as u(k)
    where t.scope = p_scope and t.key = u.k and t.volunteers = 0;
    if p_scope = 'org' then
        select array_agg(coalesce(o.sector, '')), array_agg(u.v), array_agg(u.n)
        into sectors, volunteers, deltas
        from unnest(p_keys, p_volunteers, p_deltas) as u(k, v, n)
        join organizations o on o.org_id = u.k;
        perform engage('sector', sectors, volunteers, deltas);
    end if;
end $$;

-- A statement's rows, signed, as SQL: its new rows (+1) and old rows (-1) by kind.
create function signed_rows(op text, columns text) returns text
language sql immutable as $f$ select case op
    when 'INSERT' then format('select %s, 1 as sign from came r', columns)
    when 'DELETE' then format('select %s, -1 as sign from gone r', columns)
    else format('select %1$s, 1 as sign from came r union all select %1$s, -1 from gone r',
                columns) end $f$;

create function participations_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    keys text[];
    volunteers text[];
    deltas integer[];
begin
    -- The read model's schema, whatever the writer's search_path (a rebuild renames it).
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    execute format($q$
        with m as (%s)
        insert into campaign_hours as t
        select m.campaign_id, sum(m.sign * m.hours) from m group by m.campaign_id
        on conflict (campaign_id) do update set hours = t.hours + excluded.hours
    $q$, signed_rows(tg_op, 'r.campaign_id, coalesce(r.hours, 0) as hours'));
    execute format($q$
        with m as (%s)
        delete from campaign_hours t using (select distinct m.campaign_id from m) x
        where t.campaign_id = x.campaign_id and t.hours = 0
    $q$, signed_rows(tg_op, 'r.campaign_id'));
    execute format($q$
        select array_agg(m.campaign_id), array_agg(m.volunteer_id), array_agg(m.sign)
        from (%s) m where m.attended
    $q$, signed_rows(tg_op, 'r.campaign_id, r.volunteer_id,'
                            ' (r.checked_in_at is not null or r.hours is not null) as attended'))
    into keys, volunteers, deltas;
    perform engage('campaign', keys, volunteers, deltas);
    select array_agg(c.org_id), array_agg(u.v), array_agg(u.n) into keys, volunteers, deltas
    from unnest(keys, volunteers, deltas) as u(k, v, n)
    join org_campaigns c on c.campaign_id = u.k;
    perform engage('org', keys, volunteers, deltas);
    perform set_config('search_path', saved, true);
    return null;
end $$;

-- A campaign whose owner changes (or is first recorded) takes its attended rows along.
create function owners_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    moved text;
    keys text[];
    volunteers text[];
    deltas integer[];
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    moved := case tg_op
        when 'INSERT' then 'select r.campaign_id, r.org_id, 1 as sign from came r'
        when 'DELETE' then 'select r.campaign_id, r.org_id, -1 as sign from gone r'
        else 'select n.campaign_id, n.org_id, 1 as sign from came n join gone o using (campaign_id)
              where n.org_id is distinct from o.org_id
              union all
              select o.campaign_id, o.org_id, -1 from gone o join came n using (campaign_id)
              where n.org_id is distinct from o.org_id' end;
    execute format($q$
        select array_agg(x.org_id), array_agg(e.volunteer_id), array_agg(x.sign * e.attended)
        from (%s) x join engaged e on e.scope = 'campaign' and e.key = x.campaign_id
    $q$, moved) into keys, volunteers, deltas;
    perform engage('org', keys, volunteers, deltas);
    perform set_config('search_path', saved, true);
    return null;
end $$;

-- An organisation that appears or changes sector takes its attended rows along.
create function organizations_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    moved text;
    keys text[];
    volunteers text[];
    deltas integer[];
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    moved := case tg_op
        when 'INSERT' then 'select r.org_id, coalesce(r.sector, '''') as sector, 1 as sign from came r'
        when 'DELETE' then 'select r.org_id, coalesce(r.sector, '''') as sector, -1 as sign from gone r'
        else 'select n.org_id, coalesce(n.sector, '''') as sector, 1 as sign
              from came n join gone o using (org_id) where n.sector is distinct from o.sector
              union all
              select o.org_id, coalesce(o.sector, ''''), -1 from gone o join came n using (org_id)
              where n.sector is distinct from o.sector' end;
    execute format($q$
        select array_agg(x.sector), array_agg(e.volunteer_id), array_agg(x.sign * e.attended)
        from (%s) x join engaged e on e.scope = 'org' and e.key = x.org_id
    $q$, moved) into keys, volunteers, deltas;
    perform engage('sector', keys, volunteers, deltas);
    perform set_config('search_path', saved, true);
    return null;
end $$;

create trigger participations_counted_insert after insert on participations
    referencing new table as came for each statement execute function participations_counted();
create trigger participations_counted_update after update on participations
    referencing old table as gone new table as came
    for each statement execute function participations_counted();
create trigger participations_counted_delete after delete on participations
    referencing old table as gone for each statement execute function participations_counted();
create trigger owners_counted_insert after insert on org_campaigns
    referencing new table as came for each statement execute function owners_counted();
create trigger owners_counted_update after update on org_campaigns
    referencing old table as gone new table as came
    for each statement execute function owners_counted();
create trigger owners_counted_delete after delete on org_campaigns
    referencing old table as gone for each statement execute function owners_counted();
create trigger organizations_counted_insert after insert on organizations
    referencing new table as came for each statement execute function organizations_counted();
create trigger organizations_counted_update after update on organizations
    referencing old table as gone new table as came
    for each statement execute function organizations_counted();
create trigger organizations_counted_delete after delete on organizations
    referencing old table as gone for each statement execute function organizations_counted();

-- What is there already (a read model projected before this migration).
insert into campaign_hours
select campaign_id, sum(hours) from participations group by campaign_id having sum(hours) <> 0;
select engage('campaign', array_agg(campaign_id), array_agg(volunteer_id), array_agg(1))
from participations where checked_in_at is not null or hours is not null;
select engage('org', array_agg(c.org_id), array_agg(e.volunteer_id), array_agg(e.attended))
from engaged e join org_campaigns c on e.scope = 'campaign' and c.campaign_id = e.key;

create or replace view organization_stats as
select
    o.org_id, o.name_ar, o.name_en, o.sector, o.status,
    (select count(*) from org_campaigns c where c.org_id = o.org_id)            as campaigns,
    coalesce((select k.volunteers from engaged_counts k
              where k.scope = 'org' and k.key = o.org_id), 0)                    as volunteers_engaged,
    coalesce((select sum(h.hours) from org_campaigns c
              join campaign_hours h on h.campaign_id = c.campaign_id
              where c.org_id = o.org_id), 0)::numeric(12, 2)                    as verified_hours
from organizations o;

create or replace view sector_stats as
select
    s.sector,
    s.organizations,
    s.campaigns,
    coalesce((select k.volunteers from engaged_counts k
              where k.scope = 'sector' and k.key = coalesce(s.sector, '')), 0)   as volunteers_engaged,
    s.verified_hours
from (
    select o.sector, count(distinct o.org_id) as organizations,
           count(distinct c.campaign_id) as campaigns,
           coalesce(sum(h.hours), 0)::numeric(12, 2) as verified_hours
    from organizations o
    left join org_campaigns c on c.org_id = o.org_id
    left join campaign_hours h on h.campaign_id = c.campaign_id
    group by o.sector
) s;
