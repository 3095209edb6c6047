-- 005_area_scope.sql - a district-scoped downlink for the administrative
-- areas. Until now every area's feed entry was national (district NULL), so
-- a node's first sync pulled all 91,680 areas of Indonesia (1.15 MB, three
-- minutes of a 50 kbit/s link) for a district that keeps about 500. Now a
-- kecamatan's and a village's entry (levels 3 and 4) belong to the district
-- of their first four digits; provinces and kabupaten/kota (levels 1 and 2)
-- stay national, so that every node can name any other district (a
-- movement permit's destination). Code lists stay national.
--
-- A node that already holds the national list keeps it: nothing is deleted
-- on a node, and its cursor is past these entries.

CREATE OR REPLACE FUNCTION sikhnas_feed_log() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    k text;
    d text;
BEGIN
    IF TG_TABLE_NAME = 'code_list' THEN
        k := NEW.list || '/' || NEW.code;
    ELSE
        k := NEW.code;
        IF NEW.level >= 3 THEN
            d := left(NEW.code, 4);
        END IF;
    END IF;
    INSERT INTO change_log (tbl, key, district) VALUES (TG_TABLE_NAME, k, d);
    RETURN NULL;
END $$;

-- the entries already logged: a kecamatan's code has 6 digits, a village's 10
UPDATE change_log SET district = left(key, 4)
 WHERE tbl = 'area' AND district IS NULL AND length(key) > 4;
