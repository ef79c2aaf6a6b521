-- Launches order by (time, id, source): an event's identity is its source and its id,
-- and two sources may launch under the same id at the same instant.
alter table org_campaigns add column launched_source text;
