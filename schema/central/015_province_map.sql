-- 015_province_map.sql - the map of a province analyst (issue 11).
--
-- The analysts' map reads the newest cases of a period in the asked area
-- (hub/web/web_data.c, MAP_POINTS). A district's are found by the index on
-- (left(village, 4), event_date) of 010, the nation's by the one on
-- event_date; a province's had none: PostgreSQL read every case report
-- (20 M: 3.9 s) to keep the newest 20,000 of one province. With this
-- index it reads them newest first and stops (154 ms at 20 M).
CREATE INDEX case_report_province_date ON case_report (left(village, 2), event_date);
