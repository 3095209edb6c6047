-- 021_fleet.sql - the operators' view of every node: what a node reports
-- about itself with each sync round (its health block, POST /v1/node-health,
-- hub/hub_health.c), a day-by-day history of it, the fleet view that puts it
-- beside what the hub sees (registry, last contact, last push, certificate)
-- and the fleet watch's open problems. See docs/central-ops.md.

-- The latest health block of each node (v: the block's version).
CREATE TABLE node_health (
    node_id         text PRIMARY KEY,
    district        text NOT NULL,
    v               smallint NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    version         text,
    outbox_depth    bigint,
    outbox_oldest_s bigint,       -- age of the oldest unsent record, seconds
    rows_rejected   bigint,
    clock_skew_s    double precision,   -- node clock minus the hub's, at receipt
    cert_not_after  timestamptz,  -- as the node sees its own certificate
    bytes_up        bigint,       -- the node's counters since it was installed
    bytes_down      bigint,
    last_sms_in     timestamptz,
    last_sms_out    timestamptz,
    disk_free       bigint,
    disk_total      bigint
);

-- One row per node and day (UTC): contacts (health reports) and the
-- figures the history chart draws. A year of 514 nodes is 190,000 rows.
CREATE TABLE node_health_day (
    node_id       text NOT NULL,
    day           date NOT NULL,
    contacts      integer NOT NULL DEFAULT 0,
    outbox_max    bigint NOT NULL DEFAULT 0,
    outbox_last   bigint NOT NULL DEFAULT 0,
    bytes_up      bigint NOT NULL DEFAULT 0,   -- sent that day (from the counters)
    bytes_down    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, day)
);

-- Stores one validated health block (hub_health.c checks the JSON) and
-- counts the day. The byte counters are cumulative on the node; a counter
-- that went down (a reinstall) counts from zero.
CREATE FUNCTION sikhnas_node_health_store(p_node text, p_district text, h jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    prev node_health;
    up bigint := (h ->> 'bytes_up')::bigint;
    down bigint := (h ->> 'bytes_down')::bigint;
    depth bigint := (h ->> 'outbox_depth')::bigint;
BEGIN
    SELECT * INTO prev FROM node_health WHERE node_id = p_node FOR UPDATE;
    INSERT INTO node_health AS n (node_id, district, v, received_at, version, outbox_depth,
        outbox_oldest_s, rows_rejected, clock_skew_s, cert_not_after, bytes_up, bytes_down,
        last_sms_in, last_sms_out, disk_free, disk_total)
    VALUES (p_node, p_district, (h ->> 'v')::smallint, now(), h ->> 'version', depth,
        (h ->> 'outbox_oldest_s')::bigint, (h ->> 'rows_rejected')::bigint,
        extract(epoch FROM (h ->> 'clock')::timestamptz - clock_timestamp()),
        (h ->> 'cert_not_after')::timestamptz, up, down,
        (h ->> 'last_sms_in')::timestamptz, (h ->> 'last_sms_out')::timestamptz,
        (h ->> 'disk_free')::bigint, (h ->> 'disk_total')::bigint)
    ON CONFLICT (node_id) DO UPDATE SET district = EXCLUDED.district, v = EXCLUDED.v,
        received_at = EXCLUDED.received_at, version = EXCLUDED.version,
        outbox_depth = EXCLUDED.outbox_depth, outbox_oldest_s = EXCLUDED.outbox_oldest_s,
        rows_rejected = EXCLUDED.rows_rejected, clock_skew_s = EXCLUDED.clock_skew_s,
        cert_not_after = EXCLUDED.cert_not_after, bytes_up = EXCLUDED.bytes_up,
        bytes_down = EXCLUDED.bytes_down, last_sms_in = EXCLUDED.last_sms_in,
        last_sms_out = EXCLUDED.last_sms_out, disk_free = EXCLUDED.disk_free,
        disk_total = EXCLUDED.disk_total;
    INSERT INTO node_health_day AS d (node_id, day, contacts, outbox_max, outbox_last,
                                      bytes_up, bytes_down)
    VALUES (p_node, (now() AT TIME ZONE 'UTC')::date, 1, coalesce(depth, 0), coalesce(depth, 0),
            greatest(coalesce(up - CASE WHEN prev.bytes_up <= up THEN prev.bytes_up ELSE 0 END, 0), 0),
            greatest(coalesce(down - CASE WHEN prev.bytes_down <= down THEN prev.bytes_down ELSE 0 END, 0), 0))
    ON CONFLICT (node_id, day) DO UPDATE SET contacts = d.contacts + 1,
        outbox_max = greatest(d.outbox_max, EXCLUDED.outbox_max),
        outbox_last = EXCLUDED.outbox_last,
        bytes_up = d.bytes_up + EXCLUDED.bytes_up, bytes_down = d.bytes_down + EXCLUDED.bytes_down;
END $$;

-- The last push of each node, for the fleet view (one row per batch, 30
-- days of them kept by the hub's ledger).
CREATE INDEX push_batch_node_at ON push_batch (node_id, at);

-- Every registered, unrevoked node with what the hub knows of it and the
-- problems the fleet watch alerts on:
--   silent  no contact for 72 h (or never, 72 h after registration)
--   queue   its oldest unsent record is older than 24 h
--   cert    its certificate expires within 14 days
--   clock   its clock is more than 5 minutes off the hub's
CREATE VIEW fleet_view AS
SELECT r.node_id, r.name, r.district, a.name AS district_name, left(r.district, 2) AS province,
       h.version, n.last_contact, p.last_push, h.received_at AS last_health,
       h.outbox_depth, h.outbox_oldest_s, h.rows_rejected, h.clock_skew_s,
       coalesce(c.not_after, h.cert_not_after) AS cert_not_after,
       w.bytes_up_7d, w.bytes_down_7d, h.last_sms_in, h.last_sms_out,
       h.disk_free, h.disk_total,
       array_remove(ARRAY[
           CASE WHEN coalesce(n.last_contact, r.created_at) < now() - interval '72 hours'
                THEN 'silent' END,
           CASE WHEN h.outbox_oldest_s > 24 * 3600 THEN 'queue' END,
           CASE WHEN coalesce(c.not_after, h.cert_not_after) < now() + interval '14 days'
                THEN 'cert' END,
           CASE WHEN abs(h.clock_skew_s) > 300 THEN 'clock' END], NULL) AS problems
FROM node_registration r
LEFT JOIN node n ON n.node_id = r.node_id
LEFT JOIN node_health h ON h.node_id = r.node_id
LEFT JOIN area a ON a.code = r.district
LEFT JOIN LATERAL (SELECT max(b.at) AS last_push FROM push_batch b
                   WHERE b.node_id = r.node_id) p ON true
LEFT JOIN LATERAL (SELECT max(k.not_after) AS not_after FROM node_cert k
                   WHERE k.name = r.name AND k.revoked_at IS NULL) c ON true
LEFT JOIN LATERAL (SELECT sum(d.bytes_up) AS bytes_up_7d, sum(d.bytes_down) AS bytes_down_7d
                   FROM node_health_day d
                   WHERE d.node_id = r.node_id AND d.day > current_date - 7) w ON true
WHERE r.revoked_at IS NULL AND r.node_id IS NOT NULL;

-- A problem of a node from when the fleet watch first saw it until it saw
-- it gone: one alert per problem, not one per check.
CREATE TABLE fleet_problem (
    id         bigserial PRIMARY KEY,
    node_id    text NOT NULL,
    district   text NOT NULL,
    problem    text NOT NULL CHECK (problem IN ('silent', 'queue', 'cert', 'clock')),
    opened_at  timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz
);
CREATE UNIQUE INDEX fleet_problem_open ON fleet_problem (node_id, problem) WHERE closed_at IS NULL;

-- One pass of the fleet watch: closes the problems that went away, opens
-- the new ones and queues one alert per node for what it opened. Returns
-- the number of alerts queued. Serialized by an advisory lock.
CREATE FUNCTION sikhnas_fleet_watch() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('sikhnas_fleet_watch'));
    WITH cur AS MATERIALIZED (
        SELECT v.node_id, v.district, unnest(v.problems) AS problem FROM fleet_view v
    ), closed AS (
        UPDATE fleet_problem f SET closed_at = now()
        WHERE f.closed_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM cur c WHERE c.node_id = f.node_id AND c.problem = f.problem)
    ), opened AS (
        INSERT INTO fleet_problem (node_id, district, problem)
        SELECT c.node_id, c.district, c.problem FROM cur c
        WHERE NOT EXISTS (SELECT 1 FROM fleet_problem f WHERE f.closed_at IS NULL
                          AND f.node_id = c.node_id AND f.problem = c.problem)
        RETURNING id, node_id, district, problem
    )
    SELECT count(q.j) INTO queued FROM (
        SELECT sikhnas_job_enqueue('fleet_alert', 'fleet:' || node_id || ':' || min(id),
                   jsonb_build_object('node', node_id, 'district', min(district),
                                      'problems', jsonb_agg(problem ORDER BY problem)),
                   5::smallint) AS j
        FROM opened GROUP BY node_id) q;
    RETURN coalesce(queued, 0);
END $$;
