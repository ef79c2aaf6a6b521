-- A campaign's owner is the organisation of its earliest `campaign.launched` by (time,
-- id), whatever order launches arrive in (the campaigns read model credits the same
-- one). The stamp of that launch is kept to compare the next launch seen against it.
-- Rows written before this migration have no stamp: the next launch seen replaces
-- them; `tatawwu projections rebuild organizations` makes them exact.
alter table org_campaigns
    add column launched_time  timestamptz,
    add column launched_event text;
