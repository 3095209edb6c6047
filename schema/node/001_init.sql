-- 001_init.sql - the district node's store: reference data, field records,
-- and the outbox that captures every change of a synced table for upload.
-- Applied in one transaction by node/store.c with SpatiaLite loaded.

SELECT InitSpatialMetadata(0, 'WGS84');  -- 0: inside our transaction

-- Node-wide facts: node_id, district, the last HLC handed out, the case
-- reference sequence, sync cursors.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

------------------------------------------------------------------ reference

-- Administrative areas, official Kemendagri/BPS codes without dots:
-- level 1 province (32), 2 district = kabupaten/kota (3201),
-- 3 sub-district = kecamatan (320101), 4 village = desa/kelurahan (3201012001).
CREATE TABLE area (
    code        TEXT PRIMARY KEY,
    level       INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),
    parent_code TEXT REFERENCES area(code),
    name        TEXT NOT NULL,
    hlc         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX area_parent ON area(parent_code);

-- National code lists: species, sign, syndrome, disease, outcome, role,
-- vaccine programme kinds ... (schema/reference/*.csv).
CREATE TABLE code_list (
    list      TEXT NOT NULL,
    code      TEXT NOT NULL,
    label_id  TEXT NOT NULL,
    label_en  TEXT NOT NULL,
    parent    TEXT,            -- e.g. a syndrome's suspected disease
    active    INTEGER NOT NULL DEFAULT 1,
    hlc       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (list, code)
) WITHOUT ROWID;

------------------------------------------------------------------ synced tables
-- Every synced row: a UUIDv7 id made where it is born, origin (node id or
-- 'central'), hlc (hybrid logical clock), deleted (tombstone), and times in
-- UTC ISO-8601. Capture triggers (see the outbox) queue every change.

CREATE TABLE officer (
    id         TEXT PRIMARY KEY,
    origin     TEXT NOT NULL,
    hlc        INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('vet', 'clerk', 'reporter', 'viewer')),
    phone      TEXT NOT NULL UNIQUE,      -- normal form +62...
    district   TEXT NOT NULL,
    village    TEXT REFERENCES area(code)
);

CREATE TABLE case_report (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    ref         TEXT NOT NULL UNIQUE,     -- DDDD-NNNNNN, quoted in SMS replies
    kind        TEXT NOT NULL CHECK (kind IN ('U', 'P')),
    village     TEXT NOT NULL REFERENCES area(code),
    syndrome    TEXT,                     -- kind P
    signs       TEXT NOT NULL DEFAULT '[]',  -- JSON array of sign codes (kind U)
    animals     TEXT NOT NULL,            -- JSON [{"species","sick","dead","at_risk"}]
    ddx         TEXT NOT NULL DEFAULT '[]',  -- JSON array of disease codes
    event_date  TEXT NOT NULL,            -- YYYY-MM-DD
    reporter    TEXT,                     -- officer phone, +62...
    note        TEXT,
    CHECK ((kind = 'U' AND syndrome IS NULL) OR (kind = 'P' AND syndrome IS NOT NULL))
);
SELECT AddGeometryColumn('case_report', 'geom', 4326, 'POINT', 'XY');
SELECT CreateSpatialIndex('case_report', 'geom');
-- SpatiaLite's own index triggers call RTreeAlign(), which prepares an SQL
-- statement for every row (a fifth of an import's CPU), its tm* triggers
-- rewrite geometry_columns_time on every change, and its gg* triggers look
-- up geometry_columns for every row; the node only ever writes
-- MakePoint(lon, lat, 4326). SQLite's R*Tree already rounds boxes outwards
-- to 32-bit floats, so plain inserts into it are exact.
DROP TRIGGER ggi_case_report_geom;   -- every writer uses MakePoint(lon, lat, 4326)
DROP TRIGGER ggu_case_report_geom;
DROP TRIGGER gii_case_report_geom;
DROP TRIGGER giu_case_report_geom;
DROP TRIGGER tmi_case_report_geom;
DROP TRIGGER tmu_case_report_geom;
DROP TRIGGER tmd_case_report_geom;
CREATE TRIGGER gii_case_report_geom AFTER INSERT ON case_report
WHEN NEW.geom IS NOT NULL
BEGIN
    INSERT INTO idx_case_report_geom (pkid, xmin, xmax, ymin, ymax)
    VALUES (NEW.ROWID, MbrMinX(NEW.geom), MbrMaxX(NEW.geom), MbrMinY(NEW.geom), MbrMaxY(NEW.geom));
END;
CREATE TRIGGER giu_case_report_geom AFTER UPDATE OF geom ON case_report
BEGIN
    DELETE FROM idx_case_report_geom WHERE pkid = NEW.ROWID;
    INSERT INTO idx_case_report_geom (pkid, xmin, xmax, ymin, ymax)
    SELECT NEW.ROWID, MbrMinX(NEW.geom), MbrMaxX(NEW.geom), MbrMinY(NEW.geom), MbrMaxY(NEW.geom)
    WHERE NEW.geom IS NOT NULL;
END;
CREATE INDEX case_report_date ON case_report(event_date);

-- PK (outcome) and LTL (follow-up counts) for a case.
CREATE TABLE case_followup (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    case_id     TEXT NOT NULL,            -- case_report.id (may be another node's)
    outcome     TEXT,                     -- SB recovered, MS still sick, MT dead
    animals     TEXT NOT NULL DEFAULT '[]',  -- JSON [{"species","sick","dead","culled","at_risk"}]
    escalate    INTEGER CHECK (escalate IN (0, 1)),  -- LTL Y/T
    event_date  TEXT NOT NULL,
    reporter    TEXT,
    note        TEXT
);
CREATE INDEX case_followup_case ON case_followup(case_id);

CREATE TABLE vaccination (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    program     TEXT NOT NULL,
    disease     TEXT,
    village     TEXT NOT NULL REFERENCES area(code),
    animals     TEXT NOT NULL,            -- JSON [{"species","primary","booster"}]
    event_date  TEXT NOT NULL,
    reporter    TEXT,
    note        TEXT
);

CREATE TABLE treatment (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    case_id     TEXT,
    village     TEXT NOT NULL REFERENCES area(code),
    species     TEXT NOT NULL,
    drug        TEXT NOT NULL,
    n_animals   INTEGER NOT NULL CHECK (n_animals >= 0),
    event_date  TEXT NOT NULL,
    reporter    TEXT,
    note        TEXT
);

-- SKKH health certificate for a move between districts.
CREATE TABLE movement_permit (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    permit_no   TEXT NOT NULL UNIQUE,
    owner_id    TEXT NOT NULL,
    owner_phone TEXT,
    from_area   TEXT NOT NULL,
    to_area     TEXT NOT NULL,
    animals     TEXT NOT NULL,            -- JSON [{"species","n"}] (species or breed code)
    issue_date  TEXT NOT NULL,
    reporter    TEXT,
    note        TEXT
);

CREATE TABLE slaughter_report (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    abattoir    TEXT,
    village     TEXT NOT NULL REFERENCES area(code),
    species     TEXT NOT NULL,
    n_animals   INTEGER NOT NULL CHECK (n_animals >= 0),
    event_date  TEXT NOT NULL,
    reporter    TEXT,
    note        TEXT
);

CREATE TABLE population_report (
    id          TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    hlc         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    village     TEXT NOT NULL REFERENCES area(code),
    animals     TEXT NOT NULL,            -- JSON [{"species","n"}]
    event_date  TEXT NOT NULL,
    reporter    TEXT,
    note        TEXT
);

------------------------------------------------------------------ outbox
-- One row per change of a synced row, written by the capture triggers (below)
-- in the same transaction as the change. seq only grows and is never reused
-- (AUTOINCREMENT). The uploader sends the row as it is at upload time, so
-- several queued changes of one row cost one upload. state: 0 queued,
-- 2 refused by the hub (error says why; kept for the officer to see).
CREATE TABLE outbox (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl     TEXT NOT NULL,
    row_id  TEXT NOT NULL,
    hlc     INTEGER NOT NULL,
    state   INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 2)),
    error   TEXT
);
CREATE INDEX outbox_row ON outbox(row_id);

-- Rows that came down from the hub are applied with a row in sync_apply (inserted and deleted inside the applying transaction);
-- their triggers must not queue them back up.
CREATE TABLE sync_apply (active INTEGER NOT NULL);

-- The capture triggers of every synced table (<table>_outbox_insert,
-- <table>_outbox_update, <table>_no_delete) are not written here: the node
-- makes them from the kinds table (sync/kinds.c) each time it opens the
-- store (ensure_triggers() in node/store.c), after the migrations. A store
-- made before that keeps the ones this file used to create; they are the
-- same triggers, so ensure_triggers() finds them and makes none.
