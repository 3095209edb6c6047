-- 016_case_report_index_cost.sql - less index upkeep per pushed case report
-- (issue 15: PostgreSQL's CPU per row is what bounds a reconnect storm).
--
-- Every row the hub writes is inserted into each index of case_report; the
-- cost of each was measured by tests/bench/index-cost.py (the storm's rows,
-- COPY in batches of 2,500, the cluster's CPU; docs/performance.md, issue
-- 15, "Morning (2026-12-03): storm CPU"). Two were worth changing:
--
-- case_report_village (001) served no query: the analysts' pages, exports,
-- roll-ups and alerts find a village's cases by the district's index
-- (left(village, 4), event_date) and filter the village (EXPLAIN of each in
-- the same section). Many rows share a village, and its upkeep was the
-- dearest of the B-trees.
DROP INDEX case_report_village;

-- case_report_geom (001): the point's index is kept (the map's spot lookup,
-- web_data.c "map_at", and GIS clients' bounding-box queries), as SP-GiST
-- rather than GiST. For points, SP-GiST's quad-tree descends by quadrant,
-- where GiST computes the penalty of every entry of each page it passes and
-- widens the boxes above; it answers the same operators (&&, @, ~, <->)
-- with the same plans (an index scan for map_at) and was about half the
-- insert cost. Built in the migration's transaction: writes to case_report
-- wait for it (minutes at 20 M rows).
DROP INDEX case_report_geom;
CREATE INDEX case_report_geom ON case_report USING spgist (geom);
