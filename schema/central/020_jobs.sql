-- 020_jobs.sql - the job queue of the central workers (sikhnas-worker,
-- hub/worker/) and the people its emails go to. See docs/central-ops.md.
--
-- A job is one row. Workers take ready rows with FOR UPDATE SKIP LOCKED
-- and wait on LISTEN sikhnas_job, which every insert NOTIFYs. States:
--   pending    new, ready at run_at
--   running    taken by locked_by until locked_until (the visibility
--              timeout: a killed worker's job is taken again after it)
--   failed     the last attempt failed (last_error); ready again at run_at
--              (exponential backoff with jitter, chosen by the worker)
--   done       finished
--   dead       failed max_attempts times, or failed for good; kept with
--              its last error until an operator retries or cancels it
--   cancelled  cancelled by an operator
-- idem_key makes an event queue once: a second insert with the same key
-- does nothing (ON CONFLICT DO NOTHING). The email a job sends carries a
-- Message-ID derived from it.

CREATE TABLE job (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    idem_key     text NOT NULL UNIQUE
                 CHECK (length(idem_key) BETWEEN 1 AND 200 AND idem_key !~ '[[:cntrl:]]'),
    payload      jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'failed', 'done', 'dead', 'cancelled')),
    priority     smallint NOT NULL DEFAULT 0,    -- higher first
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 25 CHECK (max_attempts > 0),
    run_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at   timestamptz,                    -- the last attempt's start
    finished_at  timestamptz
);
CREATE INDEX job_ready ON job (priority DESC, run_at) WHERE state IN ('pending', 'failed');
CREATE INDEX job_lease ON job (locked_until) WHERE state = 'running';
CREATE INDEX job_state ON job (state, created_at);
CREATE INDEX job_finished ON job (finished_at) WHERE state IN ('done', 'cancelled');

-- One NOTIFY per inserting statement (PostgreSQL folds identical ones in a
-- transaction), delivered at COMMIT: a worker never wakes for a job it
-- cannot see yet.
CREATE FUNCTION sikhnas_job_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sikhnas_job', '');
    RETURN NULL;
END $$;
CREATE TRIGGER job_notify AFTER INSERT ON job
    FOR EACH STATEMENT EXECUTE FUNCTION sikhnas_job_notify();

-- Queues a job unless its key is queued already; returns its id or NULL.
CREATE FUNCTION sikhnas_job_enqueue(p_kind text, p_key text, p_payload jsonb,
                                    p_priority smallint DEFAULT 0,
                                    p_run_at timestamptz DEFAULT clock_timestamp())
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO job (kind, idem_key, payload, priority, run_at)
    VALUES (p_kind, p_key, p_payload, p_priority, p_run_at)
    ON CONFLICT (idem_key) DO NOTHING
    RETURNING id
$$;

------------------------------------------------------------------ recipients
-- Who gets what. province NULL: national. role vet: priority alerts and
-- weekly summaries; analyst: weekly summaries; operator: fleet alerts.
CREATE TABLE recipient (
    id        bigserial PRIMARY KEY,
    email     text NOT NULL CHECK (email ~ '^[^@\s<>",;]+@[^@\s<>",;]+$' AND length(email) <= 254),
    name      text NOT NULL DEFAULT '' CHECK (name !~ '[\r\n<>"]' AND length(name) <= 100),
    role      text NOT NULL CHECK (role IN ('vet', 'analyst', 'operator')),
    province  text CHECK (province ~ '^[0-9]{2}$'),
    active    boolean NOT NULL DEFAULT true,
    added_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (email, role, province)
);
CREATE UNIQUE INDEX recipient_national ON recipient (email, role) WHERE province IS NULL;

------------------------------------------------------------------ priority alerts
-- A priority (kind P) case queues its alert in the transaction that writes
-- it, once per case (key alert:<id>). A later version queues an update only
-- when the syndrome or the counts changed, once per distinct content.
CREATE FUNCTION sikhnas_case_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> 'P' OR NEW.deleted = 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' OR OLD.kind <> 'P' THEN
        PERFORM sikhnas_job_enqueue('alert', 'alert:' || NEW.id,
                                    jsonb_build_object('case', NEW.id), 10::smallint);
    ELSIF OLD.syndrome IS DISTINCT FROM NEW.syndrome OR OLD.animals IS DISTINCT FROM NEW.animals THEN
        PERFORM sikhnas_job_enqueue('alert', 'alert:' || NEW.id || ':' ||
                                    md5(coalesce(NEW.syndrome, '') || NEW.animals::text),
                                    jsonb_build_object('case', NEW.id, 'update', true), 10::smallint);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER case_report_alert AFTER INSERT OR UPDATE ON case_report
    FOR EACH ROW EXECUTE FUNCTION sikhnas_case_alert();

------------------------------------------------------------------ weekly figures
-- The epi table of a province for the weeks from p_from (a Monday) to
-- p_to, one row per district (regency) with a registered node or a report:
-- what the weekly summary shows and attaches. The figures come from the
-- reporting schema (010_report.sql: report.district_week, kept current by
-- report.upkeep(), and report.priority_event), not computed again here.
-- last_report: the Monday of the district's last week with a report.
CREATE FUNCTION sikhnas_week_epi(p_province text, p_from date, p_to date)
RETURNS TABLE (district text, district_name text, reports bigint, priority bigint,
               sick bigint, dead bigint, last_report date)
LANGUAGE sql STABLE AS $$
    SELECT d.code, d.name, coalesce(sum(w.reports), 0)::bigint,
           (SELECT count(*) FROM report.priority_event p WHERE p.district = d.code
                AND p.event_date >= p_from AND p.event_date < p_to),
           coalesce(sum(w.sick), 0)::bigint, coalesce(sum(w.dead), 0)::bigint,
           (SELECT max(x.week) FROM report.district_week x
            WHERE x.district = d.code AND x.week < p_to AND x.reports > 0)
    FROM area d
    LEFT JOIN report.district_week w ON w.district = d.code AND w.week >= p_from
                                    AND w.week < p_to
    WHERE d.level = 2 AND d.parent_code = p_province
    GROUP BY d.code, d.name
    HAVING coalesce(sum(w.reports), 0) > 0
        OR EXISTS (SELECT 1 FROM node_registration n WHERE n.district = d.code
                   AND n.revoked_at IS NULL)
    ORDER BY d.code
$$;

------------------------------------------------------------------ upkeep
-- The daily upkeep job: finished jobs go after 30 days (the periodic
-- kinds after one), node history and closed fleet problems after 400.
CREATE FUNCTION sikhnas_upkeep() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job WHERE state IN ('done', 'cancelled')
                      AND finished_at < now() - interval '30 days';
    -- the periodic ones (thousands a day) after a day
    DELETE FROM job WHERE state = 'done' AND kind IN ('aggregates', 'fleet_watch', 'upkeep')
                      AND finished_at < now() - interval '1 day';
    IF to_regclass('node_health_day') IS NOT NULL THEN
        DELETE FROM node_health_day WHERE day < current_date - 400;
        DELETE FROM fleet_problem WHERE closed_at < now() - interval '400 days';
    END IF;
END $$;

-- The aggregates job (every minute, and before a weekly summary): the
-- reporting schema's dirty keys recomputed, 500 at a time, for at most 20
-- rounds (10,000 keys) per job. Returns the keys done.
CREATE FUNCTION sikhnas_aggregate_upkeep() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    total integer := 0;
BEGIN
    FOR i IN 1 .. 20 LOOP
        n := report.upkeep(500);
        total := total + n;
        EXIT WHEN n < 500;
    END LOOP;
    RETURN total;
END $$;

------------------------------------------------------------------ schedule
-- Queues each province's weekly summary once its Monday 07:00 local time
-- (p_now in the province's zone) has come, for a day after it: the week
-- before that Monday. Only provinces with a vet or analyst of their own.
CREATE FUNCTION sikhnas_schedule_summaries(p_now timestamptz) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(q.j)::integer FROM (
        SELECT sikhnas_job_enqueue('summary', 'summary:' || a.code || ':' || w.monday,
                   jsonb_build_object('province', a.code, 'tz', z.tz,
                                      'from', w.monday - 7, 'to', w.monday)) AS j
        FROM area a
        CROSS JOIN LATERAL (SELECT report.tz(a.code) AS tz) z
        CROSS JOIN LATERAL (SELECT (p_now AT TIME ZONE z.tz) AS local) l
        CROSS JOIN LATERAL (SELECT date_trunc('week', l.local)::date AS monday) w
        WHERE a.level = 1
          AND l.local >= w.monday + time '07:00'
          AND l.local < w.monday + time '07:00' + interval '24 hours'
          AND EXISTS (SELECT 1 FROM recipient r WHERE r.active AND r.province = a.code
                      AND r.role IN ('vet', 'analyst'))
    ) q
$$;

------------------------------------------------------------------ operator actions
-- Retry: a failed, dead or cancelled job is ready again at once, with its
-- attempts counted from zero. Cancel: a job that is not running or done
-- stops. Each returns whether the job was in a state that allows it.
CREATE FUNCTION sikhnas_job_retry(p_id bigint) RETURNS boolean
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE job SET state = 'pending', attempts = 0, run_at = clock_timestamp(),
                       finished_at = NULL, locked_until = NULL
        WHERE id = p_id AND state IN ('failed', 'dead', 'cancelled') RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM u)
$$;
CREATE FUNCTION sikhnas_job_cancel(p_id bigint) RETURNS boolean
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE job SET state = 'cancelled', finished_at = clock_timestamp()
        WHERE id = p_id AND state IN ('pending', 'failed', 'dead') RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM u)
$$;
