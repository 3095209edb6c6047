-- 010_report.sql - the reporting schema of the central analysts (issue 11):
-- weekly aggregates kept up to date as records land, the views the
-- analysts' web app (hub/web/, sikhnas-web) and desktop GIS read, and the
-- analysts' accounts.
--
-- How the aggregates stay current without slowing the hub's ingest: each
-- synced table that feeds an aggregate has STATEMENT-level triggers with
-- transition tables that record which (kind, district, week) keys a
-- statement touched in report.dirty: one small INSERT per statement, not
-- per row, inside the batch transaction. report.upkeep(n) (run by
-- `sikhnas-web upkeep` on the primary, or later as a job of the workers)
-- recomputes the dirty keys from the raw rows and deletes them. A key is
-- re-marked by bumping its gen (ON CONFLICT DO UPDATE, which takes the
-- row lock): upkeep locks a key FOR UPDATE SKIP LOCKED, so a key marked
-- by a transaction still open is left for the next round and none is
-- lost between the recompute and the delete.
--
-- Weeks are ISO weeks (Monday first) of the record's own date: the event
-- date is the local date where it happened, so it already is in the
-- province's time zone (WIB, WITA or WIT). The time zone decides which
-- week is "this week" for a province: report.today(district).

CREATE SCHEMA report;

------------------------------------------------------------------ time
CREATE TABLE report.province_tz (
    province text PRIMARY KEY,               -- two-digit province code
    tz       text NOT NULL                   -- Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT)
);
INSERT INTO report.province_tz
SELECT p, 'Asia/Makassar' FROM unnest(ARRAY['51','52','53','63','64','65',
                                            '71','72','73','74','75','76']) p
UNION ALL
SELECT p, 'Asia/Jayapura' FROM unnest(ARRAY['81','82','91','92','93','94','95','96']) p;
-- every other province (Sumatra, Java, West and Central Kalimantan) is WIB

CREATE FUNCTION report.tz(district text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT tz FROM report.province_tz WHERE province = left(district, 2)),
                    'Asia/Jakarta')
$$;

-- Today's date where the district is.
CREATE FUNCTION report.today(district text) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (now() AT TIME ZONE report.tz(district))::date
$$;

-- The Monday of d's ISO week.
CREATE FUNCTION report.week(d date) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT d - (extract(isodow FROM d)::int - 1)
$$;

------------------------------------------------------------------ dirty keys
CREATE TABLE report.dirty (
    kind      text NOT NULL,                 -- 'case', 'vacc', 'pop', 'move', 'slaughter'
    district  text NOT NULL,
    week      date NOT NULL,                 -- '2000-01-03' for keys without a week
    gen       bigint NOT NULL DEFAULT 0,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, district, week)
);
CREATE INDEX dirty_marked_at ON report.dirty (kind, marked_at);

-- Statement-level: the keys of the rows a statement wrote (the new and,
-- for an update, the old versions). TG_ARGV: kind, the SQL expression of
-- the district, the SQL expression of the week (over a row alias r).
CREATE FUNCTION report.mark_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    src text := 'SELECT ' || TG_ARGV[1] || ' AS d, ' || TG_ARGV[2] || ' AS w FROM new_rows r';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        src := src || ' UNION SELECT ' || TG_ARGV[1] || ', ' || TG_ARGV[2] || ' FROM old_rows r';
    END IF;
    EXECUTE format('INSERT INTO report.dirty AS x (kind, district, week) '
                   'SELECT DISTINCT %L, d, w FROM (%s) k WHERE d IS NOT NULL AND w IS NOT NULL '
                   'ORDER BY 2, 3 '
                   'ON CONFLICT (kind, district, week) DO UPDATE SET gen = x.gen + 1, '
                   'marked_at = now()', TG_ARGV[0], src);
    RETURN NULL;
END $$;

CREATE FUNCTION report.dirty_triggers(tbl text, kind text, d text, w text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER report_dirty_ins AFTER INSERT ON public.%I '
                   'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION report.mark_dirty(%L, %L, %L)', tbl, kind, d, w);
    EXECUTE format('CREATE TRIGGER report_dirty_upd AFTER UPDATE ON public.%I '
                   'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION report.mark_dirty(%L, %L, %L)', tbl, kind, d, w);
END $$;

SELECT report.dirty_triggers('case_report', 'case', 'left(r.village, 4)', 'report.week(r.event_date)');
SELECT report.dirty_triggers('vaccination', 'vacc', 'left(r.village, 4)', 'report.week(r.event_date)');
SELECT report.dirty_triggers('population_report', 'pop', 'left(r.village, 4)', 'DATE ''2000-01-03''');
SELECT report.dirty_triggers('movement_permit', 'move', 'left(r.from_area, 4)', 'report.week(r.issue_date)');
SELECT report.dirty_triggers('slaughter_report', 'slaughter', 'left(r.village, 4)', 'report.week(r.event_date)');

-- What the recomputations read: one district's rows of one week.
CREATE INDEX case_report_district_week ON case_report (left(village, 4), event_date);
CREATE INDEX vaccination_district_week ON vaccination (left(village, 4), event_date);
CREATE INDEX population_report_district ON population_report (left(village, 4));
CREATE INDEX movement_permit_district_week ON movement_permit (left(from_area, 4), issue_date);
CREATE INDEX slaughter_report_district_week ON slaughter_report (left(village, 4), event_date);
CREATE INDEX case_followup_case_date ON case_followup (case_id, event_date);

------------------------------------------------------------------ aggregates
-- The weekly epidemiological table: one row per district, ISO week,
-- species and code. code is the priority syndrome of a P report, each sign
-- of a U report ('-' for a U report without signs), and '*' for all the
-- district's reports of that species and week (a report with two signs
-- counts once there). sick_ar, dead_ar and at_risk come from the species
-- entries where at_risk was counted (> 0): the attack rate is
-- (sick_ar + dead_ar) / at_risk, the case fatality dead / (sick + dead).
CREATE TABLE report.epi_week (
    district  text NOT NULL,
    week      date NOT NULL,
    species   text NOT NULL,
    code      text NOT NULL,
    kind      text NOT NULL,                 -- 'U', 'P', '*'
    reports   integer NOT NULL,
    villages  integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    sick_ar   bigint NOT NULL,
    dead_ar   bigint NOT NULL,
    at_risk   bigint NOT NULL,
    PRIMARY KEY (district, week, species, code)
);
CREATE INDEX epi_week_week ON report.epi_week (week, code);

-- Completeness: reports per district and week, and per village and week.
CREATE TABLE report.district_week (
    district  text NOT NULL,
    week      date NOT NULL,
    reports   integer NOT NULL,
    villages  integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    at_risk   bigint NOT NULL,               -- as in epi_week, over all species
    sick_ar   bigint NOT NULL,
    dead_ar   bigint NOT NULL,
    pts       integer NOT NULL,              -- reports with a point, and the sums of
    sx        double precision NOT NULL,     -- their coordinates: the case centroid of
    sy        double precision NOT NULL,     -- any period is sum(sx)/sum(pts), ...
    PRIMARY KEY (district, week)
);
CREATE INDEX district_week_week ON report.district_week (week);
CREATE TABLE report.village_week (
    village   text NOT NULL,
    week      date NOT NULL,
    reports   integer NOT NULL,
    sick      bigint NOT NULL,
    dead      bigint NOT NULL,
    PRIMARY KEY (village, week)
);
CREATE INDEX village_week_week ON report.village_week (week);
CREATE INDEX village_week_district ON report.village_week (left(village, 4), week);

CREATE TABLE report.vacc_week (
    district  text NOT NULL,
    week      date NOT NULL,
    species   text NOT NULL,
    disease   text NOT NULL,                 -- '' when the record names none
    records   integer NOT NULL,
    vaccinated bigint NOT NULL,              -- primary + booster doses
    primary_n bigint NOT NULL,
    PRIMARY KEY (district, week, species, disease)
);
-- The latest population count of each village and species, summed by district.
CREATE TABLE report.population (
    district  text NOT NULL,
    species   text NOT NULL,
    n         bigint NOT NULL,
    villages  integer NOT NULL,
    as_of     date NOT NULL,                 -- the latest count's date
    PRIMARY KEY (district, species)
);
CREATE TABLE report.movement_week (
    from_district text NOT NULL,
    to_district   text NOT NULL,
    week      date NOT NULL,
    species   text NOT NULL,
    permits   integer NOT NULL,
    animals   bigint NOT NULL,
    PRIMARY KEY (from_district, week, to_district, species)
);
CREATE TABLE report.slaughter_week (
    district  text NOT NULL,
    week      date NOT NULL,
    species   text NOT NULL,
    reports   integer NOT NULL,
    animals   bigint NOT NULL,
    PRIMARY KEY (district, week, species)
);

------------------------------------------------------------------ recomputation
-- Each recompute_* takes a set of keys (the arrays ds and ws, zipped:
-- district ds[i], week ws[i]), deletes their aggregate rows and computes
-- them again from the raw rows in one statement per table, so that a
-- round of upkeep over 50 keys or a rebuild over 100,000 costs a few
-- statements, not a few per key.

CREATE FUNCTION report.recompute_case(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.epi_week e USING unnest(ds, ws) k(d, w)
    WHERE e.district = k.d AND e.week = k.w;
    DELETE FROM report.district_week e USING unnest(ds, ws) k(d, w)
    WHERE e.district = k.d AND e.week = k.w;
    DELETE FROM report.village_week e USING unnest(ds, ws) k(d, w)
    WHERE left(e.village, 4) = k.d AND e.week = k.w;
    -- the keys' species entries are read once (cases) and feed the three tables
    WITH cases AS MATERIALIZED (
        SELECT k.d, k.w, c.id, c.village, c.kind,
               CASE WHEN c.kind = 'P' THEN ARRAY[coalesce(c.syndrome, '-')]
                    WHEN jsonb_array_length(c.signs) = 0 THEN ARRAY['-']
                    ELSE ARRAY(SELECT DISTINCT jsonb_array_elements_text(c.signs)) END AS codes,
               a ->> 'species' AS species, coalesce((a ->> 'sick')::bigint, 0) AS sick,
               coalesce((a ->> 'dead')::bigint, 0) AS dead,
               coalesce((a ->> 'at_risk')::bigint, 0) AS at_risk,
               ST_X(c.geom) AS x, ST_Y(c.geom) AS y
        FROM (SELECT DISTINCT d, w FROM unnest(ds, ws) u(d, w)) k
        JOIN case_report c ON left(c.village, 4) = k.d AND c.event_date >= k.w
                          AND c.event_date < k.w + 7 AND c.deleted = 0,
             jsonb_array_elements(c.animals) a),
    by_code AS (
        INSERT INTO report.epi_week
        SELECT d, w, species, code, min(kind), count(DISTINCT id), count(DISTINCT village),
               sum(sick), sum(dead),
               coalesce(sum(sick) FILTER (WHERE at_risk > 0), 0),
               coalesce(sum(dead) FILTER (WHERE at_risk > 0), 0), sum(at_risk)
        FROM (SELECT d, w, id, village, kind, species, sick, dead, at_risk,
                     unnest(codes) AS code FROM cases) x
        GROUP BY d, w, species, code),
    all_codes AS (
        INSERT INTO report.epi_week
        SELECT d, w, species, '*', '*', count(DISTINCT id), count(DISTINCT village),
               sum(sick), sum(dead),
               coalesce(sum(sick) FILTER (WHERE at_risk > 0), 0),
               coalesce(sum(dead) FILTER (WHERE at_risk > 0), 0), sum(at_risk)
        FROM cases GROUP BY d, w, species),
    points AS (SELECT DISTINCT d, w, id, x, y FROM cases WHERE x IS NOT NULL),
    district AS (
        INSERT INTO report.district_week
        SELECT c.d, c.w, count(DISTINCT c.id), count(DISTINCT c.village), sum(c.sick),
               sum(c.dead), sum(c.at_risk),
               coalesce(sum(c.sick) FILTER (WHERE c.at_risk > 0), 0),
               coalesce(sum(c.dead) FILTER (WHERE c.at_risk > 0), 0),
               coalesce(min(p.n), 0), coalesce(min(p.sx), 0), coalesce(min(p.sy), 0)
        FROM cases c
        LEFT JOIN (SELECT d, w, count(*) AS n, sum(x) AS sx, sum(y) AS sy FROM points
                   GROUP BY d, w) p ON p.d = c.d AND p.w = c.w
        GROUP BY c.d, c.w)
    INSERT INTO report.village_week
    SELECT village, w, count(DISTINCT id), sum(sick), sum(dead) FROM cases GROUP BY village, w;
$$;

CREATE FUNCTION report.recompute_vacc(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.vacc_week e USING unnest(ds, ws) k(d, w)
    WHERE e.district = k.d AND e.week = k.w;
    INSERT INTO report.vacc_week
    SELECT k.d, k.w, a ->> 'species', coalesce(v.disease, ''), count(DISTINCT v.id),
           sum(coalesce((a ->> 'primary')::bigint, 0) + coalesce((a ->> 'booster')::bigint, 0)),
           sum(coalesce((a ->> 'primary')::bigint, 0))
    FROM (SELECT DISTINCT d, w FROM unnest(ds, ws) u(d, w)) k
    JOIN vaccination v ON left(v.village, 4) = k.d AND v.event_date >= k.w
                      AND v.event_date < k.w + 7 AND v.deleted = 0,
         jsonb_array_elements(v.animals) a
    GROUP BY 1, 2, 3, 4;
$$;

CREATE FUNCTION report.recompute_pop(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.population WHERE district = ANY (ds);
    INSERT INTO report.population
    SELECT left(village, 4), species, sum(n), count(*), max(event_date)
    FROM (SELECT DISTINCT ON (p.village, a ->> 'species') p.village, a ->> 'species' AS species,
                 coalesce((a ->> 'n')::bigint, 0) AS n, p.event_date
          FROM population_report p, jsonb_array_elements(p.animals) a
          WHERE left(p.village, 4) = ANY (ds) AND p.deleted = 0
          ORDER BY p.village, a ->> 'species', p.event_date DESC, p.hlc DESC) latest
    GROUP BY 1, 2;
$$;

CREATE FUNCTION report.recompute_move(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.movement_week e USING unnest(ds, ws) k(d, w)
    WHERE e.from_district = k.d AND e.week = k.w;
    INSERT INTO report.movement_week
    SELECT k.d, left(m.to_area, 4), k.w, a ->> 'species', count(DISTINCT m.id),
           sum(coalesce((a ->> 'n')::bigint, 0))
    FROM (SELECT DISTINCT d, w FROM unnest(ds, ws) u(d, w)) k
    JOIN movement_permit m ON left(m.from_area, 4) = k.d AND m.issue_date >= k.w
                          AND m.issue_date < k.w + 7 AND m.deleted = 0,
         jsonb_array_elements(m.animals) a
    GROUP BY 1, 2, 3, 4;
$$;

CREATE FUNCTION report.recompute_slaughter(ds text[], ws date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM report.slaughter_week e USING unnest(ds, ws) k(d, w)
    WHERE e.district = k.d AND e.week = k.w;
    INSERT INTO report.slaughter_week
    SELECT k.d, k.w, s.species, count(*), sum(s.n_animals)
    FROM (SELECT DISTINCT d, w FROM unnest(ds, ws) u(d, w)) k
    JOIN slaughter_report s ON left(s.village, 4) = k.d AND s.event_date >= k.w
                           AND s.event_date < k.w + 7 AND s.deleted = 0
    GROUP BY 1, 2, 3;
$$;

-- Recomputes up to n dirty keys of each kind, oldest first, in the
-- caller's transaction; returns how many it did. A key that an open
-- transaction is marking is skipped (it comes back next round). Safe to
-- run from several sessions at once. The unit of work for a job queue;
-- after a bulk load, report.mark_all() and then upkeep with a large n
-- rebuilds everything set-wise.
CREATE FUNCTION report.upkeep(n integer DEFAULT 200) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    k text;
    ds text[];
    ws date[];
    done integer := 0;
BEGIN
    FOREACH k IN ARRAY ARRAY['case', 'vacc', 'pop', 'move', 'slaughter'] LOOP
        SELECT array_agg(district), array_agg(week) INTO ds, ws
        FROM (SELECT district, week FROM report.dirty WHERE kind = k
              ORDER BY marked_at LIMIT n FOR UPDATE SKIP LOCKED) x;
        CONTINUE WHEN ds IS NULL;
        EXECUTE format('SELECT report.recompute_%s($1, $2)', k) USING ds, ws;
        DELETE FROM report.dirty x USING unnest(ds, ws) u(d, w)
        WHERE x.kind = k AND x.district = u.d AND x.week = u.w;
        done := done + cardinality(ds);
    END LOOP;
    RETURN done;
END $$;

-- Marks every key of the existing rows (after a bulk load by COPY with the
-- triggers in place nothing is needed; after a restore without them, this
-- rebuilds everything through upkeep).
CREATE FUNCTION report.mark_all() RETURNS bigint
LANGUAGE sql AS $$
    WITH k AS (
        SELECT DISTINCT 'case' AS kind, left(village, 4) AS d, report.week(event_date) AS w FROM case_report
        UNION SELECT DISTINCT 'vacc', left(village, 4), report.week(event_date) FROM vaccination
        UNION SELECT DISTINCT 'pop', left(village, 4), DATE '2000-01-03' FROM population_report
        UNION SELECT DISTINCT 'move', left(from_area, 4), report.week(issue_date) FROM movement_permit
        UNION SELECT DISTINCT 'slaughter', left(village, 4), report.week(event_date) FROM slaughter_report)
    , ins AS (INSERT INTO report.dirty (kind, district, week) SELECT kind, d, w FROM k
              ON CONFLICT DO NOTHING RETURNING 1)
    SELECT count(*) FROM ins
$$;
