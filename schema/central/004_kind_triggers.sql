-- 004_kind_triggers.sql - the change feed's trigger for any synced kind.
-- `sikhnas-hub migrate` (hub/hub_migrate.c) puts this trigger, and the
-- central stamp of 001, on every synced table of the kinds table
-- (sync/kinds.c) after the migrations: a new kind needs only its CREATE
-- TABLE here. The argument names the column whose first four characters
-- are the district a row belongs to (the feed's scope).
CREATE FUNCTION sikhnas_feed_log_kind() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_log (tbl, key, district)
    VALUES (TG_TABLE_NAME, NEW.id, left(to_jsonb(NEW) ->> TG_ARGV[0], 4));
    RETURN NULL;
END $$;
