-- 004_points.sql: the spatial index is maintained with the node's own point
-- functions (node/geom.c: sk_x, sk_y read SpatiaLite's POINT blob), so that
-- writing a record needs no SpatiaLite functions and node processes need not
-- load SpatiaLite and its libraries. The column, its metadata and the R*Tree
-- stay SpatiaLite's; writers other than sikhnas-node must define sk_x and
-- sk_y (or load SpatiaLite and recreate these triggers with MbrMinX etc.).
DROP TRIGGER gii_case_report_geom;
DROP TRIGGER giu_case_report_geom;
CREATE TRIGGER gii_case_report_geom AFTER INSERT ON case_report
WHEN NEW.geom IS NOT NULL
BEGIN
    INSERT INTO idx_case_report_geom (pkid, xmin, xmax, ymin, ymax)
    VALUES (NEW.ROWID, sk_x(NEW.geom), sk_x(NEW.geom), sk_y(NEW.geom), sk_y(NEW.geom));
END;
CREATE TRIGGER giu_case_report_geom AFTER UPDATE OF geom ON case_report
BEGIN
    DELETE FROM idx_case_report_geom WHERE pkid = NEW.ROWID;
    INSERT INTO idx_case_report_geom (pkid, xmin, xmax, ymin, ymax)
    SELECT NEW.ROWID, sk_x(NEW.geom), sk_x(NEW.geom), sk_y(NEW.geom), sk_y(NEW.geom)
    WHERE NEW.geom IS NOT NULL;
END;
