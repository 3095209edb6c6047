-- 013_report_rollups.sql - what the analysts' pages read instead of
-- summing thousands of rows per view (issue 11, "each page at 20
-- concurrent analysts"): province and national roll-ups of the weekly
-- tables, the priority events as a stored table, and the vaccinations per
-- district, species and year. All of it is kept by report.upkeep(), in the
-- same transaction as the district rows it is summed from, so a late
-- record changes its week's district, province and national rows at once.
--
-- The roll-ups are recomputed from the district rows of the (province,
-- week) keys a round touched, not adjusted by differences: a roll-up row
-- is always the sum of its districts' rows. That is only exact when two
-- rounds do not recompute the same province-week at once, so rounds of
-- upkeep now run one at a time (a transaction-level advisory lock; a
-- second caller waits for the first to commit, then sees its rows).

------------------------------------------------------------------ roll-ups
-- As report.district_week, per province and nationally (week first: the
-- pages read a period of every province).
CREATE TABLE report.province_week (
    province  text NOT NULL,
    week      date NOT NULL,
    reports   integer NOT NULL,
    villages  integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    at_risk   bigint NOT NULL,
    sick_ar   bigint NOT NULL,
    dead_ar   bigint NOT NULL,
    pts       integer NOT NULL,
    sx        double precision NOT NULL,
    sy        double precision NOT NULL,
    PRIMARY KEY (week, province)
);
CREATE TABLE report.national_week (
    week      date PRIMARY KEY,
    reports   integer NOT NULL,
    villages  integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    at_risk   bigint NOT NULL,
    sick_ar   bigint NOT NULL,
    dead_ar   bigint NOT NULL,
    pts       integer NOT NULL,
    sx        double precision NOT NULL,
    sy        double precision NOT NULL
);
-- As report.epi_week (a report counts once per district, so the sums of
-- reports and villages over districts are exact).
CREATE TABLE report.epi_province (
    province  text NOT NULL,
    week      date NOT NULL,
    species   text NOT NULL,
    code      text NOT NULL,
    kind      text NOT NULL,
    reports   integer NOT NULL,
    villages  integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    sick_ar   bigint NOT NULL,
    dead_ar   bigint NOT NULL,
    at_risk   bigint NOT NULL,
    PRIMARY KEY (week, province, species, code)
);
CREATE TABLE report.epi_national (
    week      date NOT NULL,
    species   text NOT NULL,
    code      text NOT NULL,
    kind      text NOT NULL,
    reports   integer NOT NULL,
    villages  integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    sick_ar   bigint NOT NULL,
    dead_ar   bigint NOT NULL,
    at_risk   bigint NOT NULL,
    PRIMARY KEY (week, species, code)
);

-- The province and national rows of the keys' weeks, from the district rows.
CREATE FUNCTION report.rollup_case(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.province_week x
    USING (SELECT DISTINCT left(d, 2) AS p, w FROM unnest(ds, ws) u(d, w)) k
    WHERE x.province = k.p AND x.week = k.w;
    INSERT INTO report.province_week
    SELECT left(x.district, 2), x.week, sum(x.reports), sum(x.villages), sum(x.sick),
           sum(x.dead), sum(x.at_risk), sum(x.sick_ar), sum(x.dead_ar), sum(x.pts),
           sum(x.sx), sum(x.sy)
    FROM (SELECT DISTINCT left(d, 2) AS p, w FROM unnest(ds, ws) u(d, w)) k
    JOIN report.district_week x ON x.week = k.w AND left(x.district, 2) = k.p
    GROUP BY 1, 2;
    DELETE FROM report.epi_province x
    USING (SELECT DISTINCT left(d, 2) AS p, w FROM unnest(ds, ws) u(d, w)) k
    WHERE x.province = k.p AND x.week = k.w;
    -- the districts with rows that week, then each one's epi rows by its key
    INSERT INTO report.epi_province
    SELECT left(e.district, 2), e.week, e.species, e.code, min(e.kind), sum(e.reports),
           sum(e.villages), sum(e.sick), sum(e.dead), sum(e.sick_ar), sum(e.dead_ar),
           sum(e.at_risk)
    FROM (SELECT DISTINCT left(d, 2) AS p, w FROM unnest(ds, ws) u(d, w)) k
    JOIN report.district_week x ON x.week = k.w AND left(x.district, 2) = k.p
    JOIN report.epi_week e ON e.district = x.district AND e.week = x.week
    GROUP BY 1, 2, 3, 4;
    DELETE FROM report.national_week WHERE week = ANY (ws);
    INSERT INTO report.national_week
    SELECT week, sum(reports), sum(villages), sum(sick), sum(dead), sum(at_risk), sum(sick_ar),
           sum(dead_ar), sum(pts), sum(sx), sum(sy)
    FROM report.province_week WHERE week = ANY (ws) GROUP BY week;
    DELETE FROM report.epi_national WHERE week = ANY (ws);
    INSERT INTO report.epi_national
    SELECT week, species, code, min(kind), sum(reports), sum(villages), sum(sick), sum(dead),
           sum(sick_ar), sum(dead_ar), sum(at_risk)
    FROM report.epi_province WHERE week = ANY (ws) GROUP BY week, species, code;
$$;

------------------------------------------------------------------ priority events
-- The view of 011 becomes a table with the same columns (the workers'
-- summaries read it by name), plus the week it is kept by. Recomputed for
-- a district-week when its case reports change (kind 'case') or a
-- follow-up of one of its events lands (kind 'prio', marked below).
CREATE TABLE report.priority_event_t AS
SELECT p.*, report.week(p.event_date) AS week FROM report.priority_event p WITH NO DATA;
DROP VIEW report.priority_event;
ALTER TABLE report.priority_event_t RENAME TO priority_event;
ALTER TABLE report.priority_event ADD PRIMARY KEY (id);
ALTER TABLE report.priority_event ALTER COLUMN week SET NOT NULL;
CREATE INDEX priority_event_district_week ON report.priority_event (district, week);
-- the page's order: open first, newest first, stopping at its limit
CREATE INDEX priority_event_open_date ON report.priority_event (open DESC, event_date DESC);
-- what the recomputation reads: a district-week's P reports (the index
-- of 011 on their date alone made a generic plan read every P report for
-- each key)
DROP INDEX case_report_priority;
CREATE INDEX case_report_priority_district_week ON case_report (left(village, 4), event_date)
    WHERE kind = 'P';

CREATE FUNCTION report.recompute_prio(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.priority_event e USING unnest(ds, ws) k(d, w)
    WHERE e.district = k.d AND e.week = k.w;
    INSERT INTO report.priority_event
    SELECT c.id, c.ref, left(c.village, 2), left(c.village, 4), c.village, c.syndrome,
           c.event_date, c.received_at,
           (SELECT sum(coalesce((a ->> 'sick')::bigint, 0)) FROM jsonb_array_elements(c.animals) a),
           (SELECT sum(coalesce((a ->> 'dead')::bigint, 0)) FROM jsonb_array_elements(c.animals) a),
           f.first_response, f.first_response - c.event_date, f.followups, l.outcome,
           l.event_date, (l.outcome IS NULL OR l.outcome = 'MS'), c.geom, k.w
    FROM (SELECT DISTINCT d, w FROM unnest(ds, ws) u(d, w)) k
    JOIN case_report c ON left(c.village, 4) = k.d AND c.event_date >= k.w
                      AND c.event_date < k.w + 7 AND c.kind = 'P' AND c.deleted = 0
    LEFT JOIN LATERAL (SELECT min(event_date) AS first_response, count(*) AS followups
                       FROM case_followup WHERE case_id = c.id AND deleted = 0) f ON true
    LEFT JOIN LATERAL (SELECT outcome, event_date FROM case_followup
                       WHERE case_id = c.id AND deleted = 0 AND outcome IS NOT NULL
                       ORDER BY event_date DESC, hlc DESC LIMIT 1) l ON true;
$$;

-- A follow-up marks its case's district-week (a follow-up landing before
-- its case marks nothing: the case's own mark recomputes both).
SELECT report.dirty_triggers('case_followup', 'prio',
    '(SELECT left(c.village, 4) FROM case_report c WHERE c.id = r.case_id AND c.kind = ''P'')',
    '(SELECT report.week(c.event_date) FROM case_report c WHERE c.id = r.case_id)');

------------------------------------------------------------------ vaccination per year
-- report.vacc_week summed per district, species, disease and year (the
-- year of the week's Monday), with the first and last week that has
-- records: a page over a period reads a year's row whenever all of its
-- weeks lie in the period, and the weeks of the row otherwise.
CREATE TABLE report.vacc_year (
    year       integer NOT NULL,
    district   text NOT NULL,
    species    text NOT NULL,
    disease    text NOT NULL,
    records    integer NOT NULL,
    vaccinated bigint NOT NULL,
    primary_n  bigint NOT NULL,
    first_week date NOT NULL,
    last_week  date NOT NULL,
    PRIMARY KEY (year, district, species, disease)
);

CREATE FUNCTION report.rollup_vacc(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.vacc_year x
    USING (SELECT DISTINCT d, extract(year FROM w)::int AS y FROM unnest(ds, ws) u(d, w)) k
    WHERE x.year = k.y AND x.district = k.d;
    INSERT INTO report.vacc_year
    SELECT k.y, v.district, v.species, v.disease, sum(v.records), sum(v.vaccinated),
           sum(v.primary_n), min(v.week), max(v.week)
    FROM (SELECT DISTINCT d, extract(year FROM w)::int AS y FROM unnest(ds, ws) u(d, w)) k
    JOIN report.vacc_week v ON v.district = k.d AND v.week >= make_date(k.y, 1, 1)
                           AND v.week < make_date(k.y + 1, 1, 1)
    GROUP BY 1, 2, 3, 4;
$$;

------------------------------------------------------------------ upkeep
-- As in 010, plus the kind 'prio', the roll-ups, and one round at a time.
CREATE OR REPLACE FUNCTION report.upkeep(n integer DEFAULT 200) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    k text;
    ds text[];
    ws date[];
    done integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('sikhnas report.upkeep'));
    FOREACH k IN ARRAY ARRAY['case', 'prio', 'vacc', 'pop', 'move', 'slaughter'] LOOP
        SELECT array_agg(district), array_agg(week) INTO ds, ws
        FROM (SELECT district, week FROM report.dirty WHERE kind = k
              ORDER BY marked_at LIMIT n FOR UPDATE SKIP LOCKED) x;
        CONTINUE WHEN ds IS NULL;
        EXECUTE format('SELECT report.recompute_%s($1, $2)', k) USING ds, ws;
        IF k = 'case' THEN
            PERFORM report.recompute_prio(ds, ws);
            PERFORM report.rollup_case(ds, ws);
        ELSIF k = 'vacc' THEN
            PERFORM report.rollup_vacc(ds, ws);
        END IF;
        DELETE FROM report.dirty x USING unnest(ds, ws) u(d, w)
        WHERE x.kind = k AND x.district = u.d AND x.week = u.w;
        done := done + cardinality(ds);
    END LOOP;
    RETURN done;
END $$;
