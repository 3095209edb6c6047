-- 008_workspace.sql (issue 14, the district office's workspace). Code
-- labels in Bahasa Indonesia for stores made before the reference lists
-- said so (schema/reference/disease.csv), and indexes for the case page (a
-- case's messages) and the work queues.
UPDATE code_list SET label_id = 'flu burung'
 WHERE list = 'disease' AND code = 'AI' AND label_id = 'avian influenza';
UPDATE code_list SET label_id = 'keluron menular (brucellosis)'
 WHERE list = 'disease' AND code = 'BRU' AND label_id = 'brucellosis';
CREATE INDEX sms_in_ref ON sms_in (ref) WHERE ref IS NOT NULL;
-- the lists, newest first (the reports' list read all 100,000 rows to sort
-- them by hlc), and the work queues: priority cases by age, refused changes
CREATE INDEX case_report_hlc ON case_report (hlc);
CREATE INDEX case_report_p ON case_report (created_at) WHERE kind = 'P' AND deleted = 0;
CREATE INDEX outbox_refused ON outbox (seq) WHERE state = 2;

-- Where a village (and a kecamatan) is, for placing reports without a GPS
-- point on the map (all SMS reports): the mean of the located case reports
-- of that area, kept by a trigger, or a gazetteer's point when one was
-- loaded (gaz_lat, gaz_lon; it wins). Node-local, never synced.
CREATE TABLE area_point (
    code    TEXT PRIMARY KEY REFERENCES area(code),
    lat_sum REAL NOT NULL DEFAULT 0,
    lon_sum REAL NOT NULL DEFAULT 0,
    n       INTEGER NOT NULL DEFAULT 0,
    gaz_lat REAL,
    gaz_lon REAL
) WITHOUT ROWID;
INSERT INTO area_point (code, lat_sum, lon_sum, n)
SELECT code, sum(lat), sum(lon), count(*) FROM (
    SELECT village AS code, sk_y(geom) AS lat, sk_x(geom) AS lon FROM case_report
     WHERE geom IS NOT NULL AND deleted = 0
    UNION ALL
    SELECT substr(village, 1, 6), sk_y(geom), sk_x(geom) FROM case_report
     WHERE geom IS NOT NULL AND deleted = 0)
 WHERE code IN (SELECT code FROM area) GROUP BY code;
CREATE TRIGGER case_report_area_point AFTER INSERT ON case_report
WHEN NEW.geom IS NOT NULL AND NEW.deleted = 0
BEGIN
    INSERT INTO area_point (code, lat_sum, lon_sum, n)
    SELECT code, sk_y(NEW.geom), sk_x(NEW.geom), 1 FROM area
     WHERE code IN (NEW.village, substr(NEW.village, 1, 6))
    ON CONFLICT (code) DO UPDATE SET lat_sum = lat_sum + excluded.lat_sum,
        lon_sum = lon_sum + excluded.lon_sum, n = n + 1;
END;

-- Idempotency keys of writes (a tablet's offline drafts): a write that
-- comes again with a key already used gets the record that key made, not a
-- second one (records.c record_insert_once). Node-local, never synced.
CREATE TABLE write_key (
    key        TEXT PRIMARY KEY,
    tbl        TEXT NOT NULL,
    row_id     TEXT NOT NULL,
    ref        TEXT,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
