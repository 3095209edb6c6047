-- 011_report_views.sql - what analysts read besides the weekly tables
-- (010_report.sql): priority events with their follow-ups, district
-- boundaries for the choropleth, and the views desktop GIS opens directly
-- (their geometry columns are typed, so PostGIS lists them in
-- geometry_columns and ogr2ogr and QGIS find them).

-- Priority-syndrome events (kind P): the first response is the first
-- follow-up; the outcome is the latest follow-up's. Open: no follow-up
-- yet, or the latest says still sick (MS).
CREATE VIEW report.priority_event AS
SELECT c.id, c.ref, left(c.village, 2) AS province, left(c.village, 4) AS district,
       c.village, c.syndrome, c.event_date, c.received_at,
       (SELECT sum(coalesce((a ->> 'sick')::bigint, 0)) FROM jsonb_array_elements(c.animals) a) AS sick,
       (SELECT sum(coalesce((a ->> 'dead')::bigint, 0)) FROM jsonb_array_elements(c.animals) a) AS dead,
       f.first_response, f.first_response - c.event_date AS days_to_response,
       f.followups, l.outcome, l.event_date AS outcome_date,
       (l.outcome IS NULL OR l.outcome = 'MS') AS open,
       c.geom
FROM case_report c
LEFT JOIN LATERAL (SELECT min(event_date) AS first_response, count(*) AS followups
                   FROM case_followup WHERE case_id = c.id AND deleted = 0) f ON true
LEFT JOIN LATERAL (SELECT outcome, event_date FROM case_followup
                   WHERE case_id = c.id AND deleted = 0 AND outcome IS NOT NULL
                   ORDER BY event_date DESC, hlc DESC LIMIT 1) l ON true
WHERE c.kind = 'P' AND c.deleted = 0;
CREATE INDEX case_report_priority ON case_report (event_date) WHERE kind = 'P';

-- District (or any area's) boundaries, loaded from a GeoJSON keyed by the
-- area code (`sikhnas-web boundaries load FILE`).
CREATE TABLE report.area_boundary (
    code  text PRIMARY KEY,
    name  text,
    geom  geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX area_boundary_geom ON report.area_boundary USING gist (geom);

-- GIS: every case report that has a point, with its totals.
CREATE VIEW report.case_point AS
SELECT c.id, c.ref, c.kind, left(c.village, 2) AS province, left(c.village, 4) AS district,
       c.village, c.syndrome, c.signs::text AS signs, c.event_date,
       report.week(c.event_date) AS week,
       (SELECT sum(coalesce((a ->> 'sick')::bigint, 0)) FROM jsonb_array_elements(c.animals) a) AS sick,
       (SELECT sum(coalesce((a ->> 'dead')::bigint, 0)) FROM jsonb_array_elements(c.animals) a) AS dead,
       c.geom
FROM case_report c
WHERE c.deleted = 0 AND c.geom IS NOT NULL;

-- GIS: each district's case centroid over the last 52 weeks, with the
-- number of reports (the proportional circles of the map).
CREATE VIEW report.district_centroid AS
SELECT district, sum(reports)::bigint AS reports, sum(sick)::bigint AS sick,
       sum(dead)::bigint AS dead,
       ST_SetSRID(ST_MakePoint(sum(sx) / sum(pts), sum(sy) / sum(pts)), 4326)::geometry(Point, 4326) AS geom
FROM report.district_week
WHERE week >= report.week(current_date) - 7 * 52 AND pts > 0
GROUP BY district;

-- GIS: the districts with their boundary and the last 52 weeks' figures.
CREATE VIEW report.district_area AS
SELECT b.code AS district, b.name, coalesce(w.reports, 0) AS reports,
       coalesce(w.sick, 0) AS sick, coalesce(w.dead, 0) AS dead, b.geom
FROM report.area_boundary b
LEFT JOIN (SELECT district, sum(reports)::bigint AS reports, sum(sick)::bigint AS sick,
                  sum(dead)::bigint AS dead
           FROM report.district_week WHERE week >= report.week(current_date) - 7 * 52
           GROUP BY district) w ON w.district = b.code
WHERE length(b.code) = 4;
