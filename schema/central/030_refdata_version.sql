-- 030_refdata_version.sql - a version number of the reference data, so that
-- a hub may check pushed rows against its own copy of the code lists and
-- villages (hub/hub_refcache.c). Every statement that writes area or
-- code_list adds to it in its own transaction; a hub reads it inside each
-- batch's transaction and reloads its copy when it moved, so no batch is
-- checked against codes older than what that transaction sees, whichever
-- hub instance applies it.

-- One row per statement that wrote reference data, committed with it; the
-- version is their number. Rows are only ever added, so a later snapshot
-- never counts fewer, and a count tells two snapshots' reference data
-- apart. Inserting (not updating one row) keeps writers of reference data
-- from waiting for each other's transactions.
CREATE TABLE refdata_change (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION sikhnas_refdata_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refdata_change DEFAULT VALUES;
    RETURN NULL;
END $$;

CREATE TRIGGER area_refdata_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area
    FOR EACH STATEMENT EXECUTE FUNCTION sikhnas_refdata_bump();
CREATE TRIGGER code_list_refdata_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON code_list FOR EACH STATEMENT EXECUTE FUNCTION sikhnas_refdata_bump();

-- The alert trigger of 020_jobs.sql, called only for the rows its function
-- does not return from at once: the same effect, without a PL/pgSQL call
-- queued for every pushed case report (most are kind U).
DROP TRIGGER case_report_alert ON case_report;
CREATE TRIGGER case_report_alert AFTER INSERT OR UPDATE ON case_report
    FOR EACH ROW WHEN ((NEW.kind <> 'P' OR NEW.deleted = 1) IS NOT TRUE)
    EXECUTE FUNCTION sikhnas_case_alert();
