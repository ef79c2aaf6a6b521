-- An event's identity is its source and its id (the runtime deduplicates on both), so
-- the last-writer-wins stamps order by (time, id, source): two partners may send the
-- same id at the same instant about the same pair. Null on rows written before (read
-- as '': such a row gives way to the same event stamped with its source).
alter table participations
    add column signup_source text,
    add column hours_source  text;
