-- 014_case_versions.sql - every version of a case report that was
-- overwritten, for the history on the analysts' case page (issue 11: "a
-- case page with its history (every version, ...)"). The conflict log
-- keeps a version that lost to another writer's; nothing kept the
-- versions a sender itself replaced (a corrected count, a moved date, a
-- deletion), and the push ledger holds batches, not rows. An UPDATE of
-- case_report (the hub's last-writer-wins upsert, or a central
-- correction) now keeps each changed row's previous version here, in
-- the same statement: one statement-level trigger with a transition
-- table, no cost for inserts.
CREATE TABLE report.case_version (
    id          bigserial PRIMARY KEY,
    case_id     text NOT NULL,
    origin      text NOT NULL,           -- who wrote the replaced version
    hlc         bigint NOT NULL,
    src_node    text,
    received_at timestamptz,
    replaced_at timestamptz NOT NULL DEFAULT now(),
    version     jsonb NOT NULL           -- the replaced row, without its point
);
CREATE INDEX case_version_case ON report.case_version (case_id, id);

CREATE FUNCTION report.keep_case_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report.case_version (case_id, origin, hlc, src_node, received_at, version)
    SELECT o.id, o.origin, o.hlc, o.src_node, o.received_at, to_jsonb(o) - 'geom'
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE to_jsonb(o) IS DISTINCT FROM to_jsonb(n)
    ORDER BY o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER report_case_versions AFTER UPDATE ON case_report
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report.keep_case_versions();
