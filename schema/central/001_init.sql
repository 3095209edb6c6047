-- 001_init.sql - the central store: reference data, the field tables of every
-- node with their provenance, the node registry, refusals, the conflict log
-- and the change feed that flows down. Applied by `sikhnas-hub migrate`
-- in one transaction (see hub/hub_migrate.c).

CREATE EXTENSION IF NOT EXISTS postgis;

------------------------------------------------------------------ clock
-- A central HLC: Unix ms << 16 | a 16-bit counter, the same layout as the
-- nodes' (common/hlc.h), never below a given floor.
CREATE SEQUENCE hlc_counter CYCLE MINVALUE 0 MAXVALUE 65535;

CREATE FUNCTION sikhnas_hlc_next(floor bigint DEFAULT 0) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT greatest(((extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16)
                    | nextval('hlc_counter'), floor + 1)
$$;

-- ISO-8601 UTC with milliseconds, the form the protocol carries.
CREATE FUNCTION sikhnas_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

------------------------------------------------------------------ reference

CREATE TABLE area (
    code        text PRIMARY KEY,            -- official code without dots
    level       smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
    parent_code text REFERENCES area(code),
    name        text NOT NULL,
    hlc         bigint NOT NULL DEFAULT 0
);
CREATE INDEX area_parent ON area(parent_code);

CREATE TABLE code_list (
    list      text NOT NULL,
    code      text NOT NULL,
    label_id  text NOT NULL,
    label_en  text NOT NULL,
    parent    text,
    active    smallint NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    hlc       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (list, code)
);

------------------------------------------------------------------ nodes

-- One row per district node. acked_seq is the node's outbox high-water mark:
-- every outbox entry with seq <= acked_seq has been applied (or refused).
-- It changes only in the transaction that applies a batch.
CREATE TABLE node (
    node_id      text PRIMARY KEY,
    district     text NOT NULL,
    name         text,
    acked_seq    bigint NOT NULL DEFAULT 0,
    last_hlc     bigint NOT NULL DEFAULT 0,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_contact timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX node_district ON node(district);

-- Rows the hub refused, kept so that a re-sent batch gets the same answer
-- and so that an operator can see them.
CREATE TABLE push_refusal (
    node_id  text NOT NULL,
    seq      bigint NOT NULL,
    tbl      text NOT NULL,
    row_id   text,
    code     text NOT NULL,
    reason   text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, seq)
);

-- Every version that lost last-writer-wins, with the version that won.
CREATE TABLE conflict_log (
    id          bigserial PRIMARY KEY,
    tbl         text NOT NULL,
    row_id      text NOT NULL,
    winner_node text NOT NULL,
    winner_hlc  bigint NOT NULL,
    loser_node  text NOT NULL,
    loser_hlc   bigint NOT NULL,
    winner      jsonb NOT NULL,
    loser       jsonb NOT NULL,
    logged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conflict_log_row ON conflict_log(tbl, row_id);

------------------------------------------------------------------ change feed
-- What flows down. One entry per central write of a row; xid is the id of
-- the writing transaction. A pull returns entries below the horizon
-- pg_snapshot_xmin(pg_current_snapshot()) only: every transaction with a
-- smaller id has ended, so an entry can never appear behind a cursor, in
-- whatever order concurrent transactions commit. district NULL = national.
CREATE TABLE change_log (
    xid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    pos      bigserial NOT NULL,
    tbl      text NOT NULL,
    key      text NOT NULL,
    district text,
    PRIMARY KEY (xid, pos)
);

------------------------------------------------------------------ field tables
-- The node's synced tables (schema/node/001_init.sql) plus provenance:
--   src_node    the node that sent this version ('central' for a central edit)
--   src_batch   that node's batch (its last_seq)
--   src_hlc     that node's HLC when it sent the batch
--   received_at when the hub applied it
-- No UNIQUE constraint besides the id: a duplicate ref from a reinstalled
-- node must not make a whole batch fail. No foreign keys: the hub checks
-- codes and areas row by row and refuses the bad rows alone.
-- The columns every synced row begins with, a report's notes and the
-- provenance each table ends with are templates that LIKE copies (as
-- STAMP and NOTES in sync/kinds.c), dropped once the tables are made. (A
-- database made before they were has the same tables, but its CHECK on
-- deleted is named <table>_deleted_check.)

CREATE TABLE synced_row (
    id          text PRIMARY KEY,
    origin      text NOT NULL,
    hlc         bigint NOT NULL,
    deleted     smallint NOT NULL DEFAULT 0 CONSTRAINT deleted_check CHECK (deleted IN (0, 1)),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE TABLE notes (
    reporter    text,
    note        text
);
CREATE TABLE provenance (
    src_node    text NOT NULL DEFAULT 'central',
    src_batch   bigint,
    src_hlc     bigint,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE officer (
    LIKE synced_row INCLUDING ALL,
    name        text NOT NULL,
    role        text NOT NULL,
    phone       text NOT NULL,
    district    text NOT NULL,
    village     text,
    LIKE provenance INCLUDING ALL
);
CREATE INDEX officer_district ON officer(district);
CREATE INDEX officer_phone ON officer(phone);

CREATE TABLE case_report (
    LIKE synced_row INCLUDING ALL,
    ref         text NOT NULL,
    kind        text NOT NULL,
    village     text NOT NULL,
    syndrome    text,
    signs       jsonb NOT NULL DEFAULT '[]',
    animals     jsonb NOT NULL,
    ddx         jsonb NOT NULL DEFAULT '[]',
    event_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    geom        geometry(Point, 4326),
    LIKE provenance INCLUDING ALL
);
CREATE INDEX case_report_village ON case_report(village);
CREATE INDEX case_report_date ON case_report(event_date);
CREATE INDEX case_report_ref ON case_report(ref);
CREATE INDEX case_report_geom ON case_report USING gist(geom);

CREATE TABLE case_followup (
    LIKE synced_row INCLUDING ALL,
    case_id     text NOT NULL,
    outcome     text,
    animals     jsonb NOT NULL DEFAULT '[]',
    escalate    smallint CHECK (escalate IN (0, 1)),
    event_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    district    text NOT NULL,               -- the sending node's, for scope
    LIKE provenance INCLUDING ALL
);
CREATE INDEX case_followup_case ON case_followup(case_id);

CREATE TABLE vaccination (
    LIKE synced_row INCLUDING ALL,
    program     text NOT NULL,
    disease     text,
    village     text NOT NULL,
    animals     jsonb NOT NULL,
    event_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    LIKE provenance INCLUDING ALL
);
CREATE INDEX vaccination_village ON vaccination(village);

CREATE TABLE treatment (
    LIKE synced_row INCLUDING ALL,
    case_id     text,
    village     text NOT NULL,
    species     text NOT NULL,
    drug        text NOT NULL,
    n_animals   integer NOT NULL CHECK (n_animals >= 0),
    event_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    LIKE provenance INCLUDING ALL
);
CREATE INDEX treatment_village ON treatment(village);

CREATE TABLE movement_permit (
    LIKE synced_row INCLUDING ALL,
    permit_no   text NOT NULL,
    owner_id    text NOT NULL,
    owner_phone text,
    from_area   text NOT NULL,
    to_area     text NOT NULL,
    animals     jsonb NOT NULL,
    issue_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    LIKE provenance INCLUDING ALL
);
CREATE INDEX movement_permit_no ON movement_permit(permit_no);

CREATE TABLE slaughter_report (
    LIKE synced_row INCLUDING ALL,
    abattoir    text,
    village     text NOT NULL,
    species     text NOT NULL,
    n_animals   integer NOT NULL CHECK (n_animals >= 0),
    event_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    LIKE provenance INCLUDING ALL
);

CREATE TABLE population_report (
    LIKE synced_row INCLUDING ALL,
    village     text NOT NULL,
    animals     jsonb NOT NULL,
    event_date  date NOT NULL,
    LIKE notes INCLUDING ALL,
    LIKE provenance INCLUDING ALL
);

DROP TABLE synced_row, notes, provenance;

------------------------------------------------------------------ central writes
-- The hub marks its own transactions with SET LOCAL sikhnas.writer = 'hub'.
-- Any other write (an analyst's correction, refdata load, officer
-- management) is a central write: it gets src_node 'central', a central HLC
-- newer than the version it replaces, and an entry in the change feed, so
-- it flows down to the district.

CREATE FUNCTION sikhnas_central_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.hlc := sikhnas_hlc_next(greatest(OLD.hlc, NEW.hlc - 1));
    ELSIF NEW.hlc IS NULL OR NEW.hlc = 0 THEN
        NEW.hlc := sikhnas_hlc_next(0);
    END IF;
    IF TG_TABLE_NAME NOT IN ('area', 'code_list') THEN
        NEW.src_node := 'central';
        NEW.src_batch := NULL;
        NEW.src_hlc := NULL;
        NEW.received_at := now();
        IF TG_OP = 'UPDATE' THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- The reference tables' feed entries (national: no district). The synced
-- kinds get their stamp and feed triggers from `sikhnas-hub migrate`, made
-- from the kinds table (sync/kinds.c, 004_kind_triggers.sql).
CREATE FUNCTION sikhnas_feed_log() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    k text;
BEGIN
    IF TG_TABLE_NAME = 'code_list' THEN
        k := NEW.list || '/' || NEW.code;
    ELSE
        k := NEW.code;
    END IF;
    INSERT INTO change_log (tbl, key) VALUES (TG_TABLE_NAME, k);
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['area', 'code_list'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %I FOR EACH ROW '
                       'WHEN (current_setting(''sikhnas.writer'', true) IS DISTINCT FROM ''hub'') '
                       'EXECUTE FUNCTION sikhnas_central_stamp()', t || '_central_stamp', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE ON %I FOR EACH ROW '
                       'WHEN (current_setting(''sikhnas.writer'', true) IS DISTINCT FROM ''hub'') '
                       'EXECUTE FUNCTION sikhnas_feed_log()', t || '_feed_log', t);
    END LOOP;
END $$;
