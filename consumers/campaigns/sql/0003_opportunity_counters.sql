-- Each campaign's opportunities, capacity and filled places, counted (0002 counted the
-- participations): the campaign list (`consumers/api/queries.py`, sorted by fill rate)
-- aggregated every opportunity per read, ~0.2 s at half a national year. An opportunity
-- contributes 1, its capacity and least(its sign-ups, its capacity) (the last two unless
-- cancelled); a statement-level trigger on `opportunities` moves the contributions of the
-- rows it changed, and one on `opportunity_counts` the filled places when sign-ups move.

create table campaign_capacity (
    campaign_id   text   primary key,
    opportunities bigint not null,
    capacity      bigint not null,
    filled        bigint not null
);

-- The contributions of opportunity rows (SQL over `tbl`, alias `a`), signed, at the
-- sign-ups counted now.
create function opportunity_contributions(tbl text, sign integer) returns text
language sql immutable as $f$ select format($q$
    select a.campaign_id, %2$s as opportunities,
        %2$s * coalesce(case when a.status <> 'cancelled' then a.capacity end, 0) as capacity,
        %2$s * coalesce(case when a.status <> 'cancelled'
                             then least(coalesce(k.signups, 0), a.capacity) end, 0) as filled
    from %1$s a left join opportunity_counts k on k.opportunity_id = a.opportunity_id
    where a.campaign_id is not null$q$, tbl, sign) $f$;

-- Add contributions (SQL giving them) to `campaign_capacity`; drop all-zero rows.
create function campaign_contributions(contributions text) returns text[]
language sql immutable as $f$ select array[format($q$
    insert into campaign_capacity as t (campaign_id, opportunities, capacity, filled)
    select m.campaign_id, sum(m.opportunities), sum(m.capacity), sum(m.filled)
    from (%1$s) m group by m.campaign_id
    on conflict (campaign_id) do update set
        opportunities = t.opportunities + excluded.opportunities,
        capacity = t.capacity + excluded.capacity,
        filled = t.filled + excluded.filled
$q$, contributions), format($q$
    delete from campaign_capacity t using (select distinct m.campaign_id from (%1$s) m) x
    where t.campaign_id = x.campaign_id and (t.opportunities, t.capacity, t.filled) = (0, 0, 0)
$q$, contributions)] $f$;

create function opportunities_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    contributions text;
    statement text;
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    contributions := case tg_op
        when 'INSERT' then opportunity_contributions('came', 1)
        when 'DELETE' then opportunity_contributions('gone', -1)
        else opportunity_contributions('came', 1) || ' union all '
             || opportunity_contributions('gone', -1) end;
    foreach statement in array campaign_contributions(contributions) loop
        execute statement;
    end loop;
    perform set_config('search_path', saved, true);
    return null;
end $$;

-- Sign-ups counted anew (the participations trigger): the filled places they change.
create function signups_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    signups text;
    statement text;
begin
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    signups := case tg_op
        when 'INSERT' then 'select opportunity_id, signups, 1 as sign from came'
        when 'DELETE' then 'select opportunity_id, signups, -1 as sign from gone'
        else 'select opportunity_id, signups, 1 as sign from came
              union all select opportunity_id, signups, -1 from gone' end;
    foreach statement in array campaign_contributions(format($q$
        select o.campaign_id, 0 as opportunities, 0 as capacity,
               s.sign * least(s.signups, o.capacity) as filled
        from (%s) s join opportunities o on o.opportunity_id = s.opportunity_id
        where o.status <> 'cancelled' and o.campaign_id is not null$q$, signups)) loop
        execute statement;
    end loop;
    perform set_config('search_path', saved, true);
    return null;
end $$;

create trigger opportunities_counted_insert after insert on opportunities
    referencing new table as came for each statement execute function opportunities_counted();
create trigger opportunities_counted_update after update on opportunities
    referencing old table as gone new table as came
    for each statement execute function opportunities_counted();
create trigger opportunities_counted_delete after delete on opportunities
    referencing old table as gone for each statement execute function opportunities_counted();
create trigger signups_counted_insert after insert on opportunity_counts
    referencing new table as came for each statement execute function signups_counted();
create trigger signups_counted_update after update on opportunity_counts
    referencing old table as gone new table as came
    for each statement execute function signups_counted();
create trigger signups_counted_delete after delete on opportunity_counts
    referencing old table as gone for each statement execute function signups_counted();

-- What is there already.
do $$
declare
    statement text;
begin
    foreach statement in array
        campaign_contributions(opportunity_contributions('opportunities', 1)) loop
        execute statement;
    end loop;
end $$;
