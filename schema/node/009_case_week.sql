-- 009_case_week.sql (issue 14). The dashboard's trends (node/web_trend.c)
-- counted 12 weeks of case reports on every change of the store: half a
-- second at 100,000 records on a busy board, which every officer opening
-- the dashboard then waited for. case_week keeps those counts instead, per
-- week (its Monday) and per dimension, updated by the triggers below in
-- the transaction that writes the report, so the trends read a few
-- thousand small rows whatever the store's size. Node-local, never synced.
--
--   dim        code                       one count for each
--   kind       U or P                     report
--   village    the village's code         report
--   syndrome   the syndrome's code        priority (P) report
--   sign       a sign's code              sign of a usual (U) report
--   species    a species' code            entry of a report's animals
--
-- Only live reports (deleted = 0) are counted; n may reach 0 and stay.
-- The triggers read the JSON columns as the validator left them (an array;
-- the hub checks the same): JSON that is not valid fails the write.
CREATE TABLE case_week (
    week TEXT NOT NULL,
    dim  TEXT NOT NULL,
    code TEXT NOT NULL,
    n    INTEGER NOT NULL,
    last TEXT,                  -- dim village: the newest event_date counted
    PRIMARY KEY (week, dim, code)
) WITHOUT ROWID;

-- The counts of the reports already there; the triggers keep them since.
-- The three triggers repeat one body (they see NEW or OLD): keep them alike.
INSERT INTO case_week (week, dim, code, n, last)
SELECT week, dim, code, count(*), CASE WHEN dim = 'village' THEN max(day) END FROM (
    SELECT date(event_date, '-6 days', 'weekday 1') AS week, 'kind' AS dim, kind AS code,
           event_date AS day
      FROM case_report WHERE deleted = 0
    UNION ALL SELECT date(event_date, '-6 days', 'weekday 1'), 'village', village, event_date
      FROM case_report WHERE deleted = 0
    UNION ALL SELECT date(event_date, '-6 days', 'weekday 1'), 'syndrome', syndrome, event_date
      FROM case_report WHERE deleted = 0 AND kind = 'P'
    UNION ALL SELECT date(c.event_date, '-6 days', 'weekday 1'), 'species',
           json_extract(j.value, '$.species'), c.event_date
      FROM case_report c,
           json_each(CASE WHEN json_valid(c.animals) THEN c.animals ELSE '[]' END) j
     WHERE c.deleted = 0
    UNION ALL SELECT date(c.event_date, '-6 days', 'weekday 1'), 'sign', j.value, c.event_date
      FROM case_report c,
           json_each(CASE WHEN json_valid(c.signs) THEN c.signs ELSE '[]' END) j
     WHERE c.deleted = 0 AND c.kind = 'U')
 WHERE week IS NOT NULL AND code IS NOT NULL
 GROUP BY 1, 2, 3;

CREATE TRIGGER case_week_insert AFTER INSERT ON case_report WHEN NEW.deleted = 0
BEGIN
    INSERT INTO case_week (week, dim, code, n, last)
    SELECT date(NEW.event_date, '-6 days', 'weekday 1') AS week, dim, code, 1,
           CASE WHEN dim = 'village' THEN NEW.event_date END FROM (
        SELECT 'kind' AS dim, NEW.kind AS code
        UNION ALL SELECT 'village', NEW.village
        UNION ALL SELECT 'syndrome', NEW.syndrome WHERE NEW.kind = 'P'
        UNION ALL SELECT 'species', json_extract(j.value, '$.species')
          FROM json_each(NEW.animals) j
        UNION ALL SELECT 'sign', j.value
          FROM json_each(NEW.signs) j
         WHERE NEW.kind = 'U')
     WHERE week IS NOT NULL AND code IS NOT NULL
    ON CONFLICT (week, dim, code) DO UPDATE SET n = n + excluded.n,
        last = CASE WHEN excluded.last > coalesce(last, '') THEN excluded.last ELSE last END;
END;

CREATE TRIGGER case_week_update AFTER UPDATE OF deleted, kind, village, syndrome, signs,
    animals, event_date ON case_report
BEGIN
    INSERT INTO case_week (week, dim, code, n)
    SELECT date(OLD.event_date, '-6 days', 'weekday 1') AS week, dim, code, -1 FROM (
        SELECT 'kind' AS dim, OLD.kind AS code
        UNION ALL SELECT 'village', OLD.village
        UNION ALL SELECT 'syndrome', OLD.syndrome WHERE OLD.kind = 'P'
        UNION ALL SELECT 'species', json_extract(j.value, '$.species')
          FROM json_each(OLD.animals) j
        UNION ALL SELECT 'sign', j.value
          FROM json_each(OLD.signs) j
         WHERE OLD.kind = 'U')
     WHERE OLD.deleted = 0 AND week IS NOT NULL AND code IS NOT NULL
    ON CONFLICT (week, dim, code) DO UPDATE SET n = n + excluded.n,
        last = CASE WHEN excluded.last > coalesce(last, '') THEN excluded.last ELSE last END;
    INSERT INTO case_week (week, dim, code, n, last)
    SELECT date(NEW.event_date, '-6 days', 'weekday 1') AS week, dim, code, 1,
           CASE WHEN dim = 'village' THEN NEW.event_date END FROM (
        SELECT 'kind' AS dim, NEW.kind AS code
        UNION ALL SELECT 'village', NEW.village
        UNION ALL SELECT 'syndrome', NEW.syndrome WHERE NEW.kind = 'P'
        UNION ALL SELECT 'species', json_extract(j.value, '$.species')
          FROM json_each(NEW.animals) j
        UNION ALL SELECT 'sign', j.value
          FROM json_each(NEW.signs) j
         WHERE NEW.kind = 'U')
     WHERE NEW.deleted = 0 AND week IS NOT NULL AND code IS NOT NULL
    ON CONFLICT (week, dim, code) DO UPDATE SET n = n + excluded.n,
        last = CASE WHEN excluded.last > coalesce(last, '') THEN excluded.last ELSE last END;
END;

CREATE TRIGGER case_week_delete AFTER DELETE ON case_report WHEN OLD.deleted = 0
BEGIN
    INSERT INTO case_week (week, dim, code, n)
    SELECT date(OLD.event_date, '-6 days', 'weekday 1') AS week, dim, code, -1 FROM (
        SELECT 'kind' AS dim, OLD.kind AS code
        UNION ALL SELECT 'village', OLD.village
        UNION ALL SELECT 'syndrome', OLD.syndrome WHERE OLD.kind = 'P'
        UNION ALL SELECT 'species', json_extract(j.value, '$.species')
          FROM json_each(OLD.animals) j
        UNION ALL SELECT 'sign', j.value
          FROM json_each(OLD.signs) j
         WHERE OLD.kind = 'U')
     WHERE week IS NOT NULL AND code IS NOT NULL
    ON CONFLICT (week, dim, code) DO UPDATE SET n = n + excluded.n,
        last = CASE WHEN excluded.last > coalesce(last, '') THEN excluded.last ELSE last END;
END;

-- A village's last report (the trends' silent villages) is the newest
-- "last" of its rows. An insert keeps it by max(); when a report leaves its
-- week (deleted, or its village or date changed: rare, corrections) the
-- week's newest live report of that village is looked up again, by the
-- event_date index over that one week.
CREATE TRIGGER case_week_last AFTER UPDATE OF deleted, village, event_date ON case_report
WHEN OLD.deleted = 0 AND (NEW.deleted != 0 OR NEW.village IS NOT OLD.village
                          OR NEW.event_date IS NOT OLD.event_date)
BEGIN
    UPDATE case_week SET last = (
        SELECT max(c.event_date) FROM case_report c
         WHERE c.event_date >= case_week.week AND c.event_date < date(case_week.week, '+7 days')
           AND c.village = OLD.village AND c.deleted = 0)
     WHERE week = date(OLD.event_date, '-6 days', 'weekday 1') AND dim = 'village'
       AND code = OLD.village;
END;

-- The dashboard's counts of the outbox (queued, refused) and of the live
-- case reports counted every row of a table on the loop thread: tens of
-- milliseconds at 100,000 records, during which nobody else was answered.
-- outbox_count keeps the outbox's rows per state; the reports' total is
-- the sum of case_week's 'kind' rows. Node-local, never synced.
CREATE TABLE outbox_count (
    state INTEGER PRIMARY KEY,
    n     INTEGER NOT NULL
);
INSERT INTO outbox_count (state, n) SELECT state, count(*) FROM outbox GROUP BY state;
CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox
BEGIN
    INSERT INTO outbox_count (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox
BEGIN
    UPDATE outbox_count SET n = n - 1 WHERE state = OLD.state;
END;
CREATE TRIGGER outbox_count_update AFTER UPDATE OF state ON outbox
WHEN NEW.state IS NOT OLD.state
BEGIN
    UPDATE outbox_count SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO outbox_count (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
