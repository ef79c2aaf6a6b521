-- An event's identity is its source and its id (the runtime deduplicates on both): two
-- partners may send the same id, and both events belong in the history. Rows written
-- before this migration hold '' as their source.
alter table history add column source text not null default '';
alter table history drop constraint history_pkey;
alter table history add primary key (event_id, source);
