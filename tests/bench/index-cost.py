#!/usr/bin/env python3
"""index-cost.py - PostgreSQL's CPU per row that each index and trigger of
case_report costs the hub's writes, by hand (no pass/fail).

    tests/bench/index-cost.py BUILD/hub/sikhnas-hub [--nodes 40] [--node-rows 10000]
                              [--batch 2500] [--sessions 1] [--variant NAME ...] [--repeat 1]

Starts its own PostgreSQL + PostGIS and migrates it (tests/sync/hubtest.py),
makes the storm's rows (hub-bench.py's make_rows: --nodes nodes of
--node-rows case reports, their batches interleaved as in a storm) and,
for each variant (the schema as migrated, or with one index or trigger
dropped or changed), empties case_report and COPYs the rows into it in
batches of --batch, one transaction each, from --sessions sessions at once
(the hub has 4 database connections), as the hub's writes (sikhnas.writer
= hub: the dirty-mark and alert triggers fire, the central stamp does not).
Prints the CPU the cluster used (the postmaster and all its processes, as
hub-bench.py counts it) and microseconds per row, and the difference to the
schema as migrated. CPU seconds, not wall time: the machine is shared."""
import argparse
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'sync'))
import hubtest  # noqa: E402

spec = importlib.util.spec_from_file_location('hub_bench', os.path.join(HERE, 'hub-bench.py'))
hb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hb)

# name -> SQL run on the emptied table before its COPY (undone after by
# running the UNDO of the same name)
VARIANTS = {
    'as-migrated': ('', ''),
    # 016 dropped it: what it cost
    'with-village': ('CREATE INDEX case_report_village ON case_report(village)',
                     'DROP INDEX case_report_village'),
    'no-ref': ('DROP INDEX case_report_ref', 'CREATE INDEX case_report_ref ON case_report(ref)'),
    'ref-hash': ('DROP INDEX case_report_ref; '
                 'CREATE INDEX case_report_ref ON case_report USING hash(ref)',
                 'DROP INDEX case_report_ref; CREATE INDEX case_report_ref ON case_report(ref)'),
    'no-date': ('DROP INDEX case_report_date',
                'CREATE INDEX case_report_date ON case_report(event_date)'),
    'no-district-week': ('DROP INDEX case_report_district_week',
                         'CREATE INDEX case_report_district_week ON case_report '
                         '(left(village, 4), event_date)'),
    'no-province-date': ('DROP INDEX case_report_province_date',
                         'CREATE INDEX case_report_province_date ON case_report '
                         '(left(village, 2), event_date)'),
    'no-geom': ('DROP INDEX case_report_geom',
                'CREATE INDEX case_report_geom ON case_report USING gist(geom)'),
    'geom-spgist': ('DROP INDEX case_report_geom; '
                    'CREATE INDEX case_report_geom ON case_report USING spgist(geom)',
                    'DROP INDEX case_report_geom; '
                    'CREATE INDEX case_report_geom ON case_report USING gist(geom)'),
    # the map's spot lookup (hub/web/web_data.c "map_at") by B-tree: on the
    # spot as the query rounds it, or on the coordinates (a range query)
    'geom-spot-btree': ('DROP INDEX case_report_geom; CREATE INDEX case_report_spot ON '
                        'case_report ((round(ST_X(geom)::numeric, 5)::float8), '
                        '(round(ST_Y(geom)::numeric, 5)::float8))',
                        'DROP INDEX case_report_spot; '
                        'CREATE INDEX case_report_geom ON case_report USING gist(geom)'),
    'geom-xy-btree': ('DROP INDEX case_report_geom; CREATE INDEX case_report_xy ON '
                      'case_report ((ST_X(geom)), (ST_Y(geom)))',
                      'DROP INDEX case_report_xy; '
                      'CREATE INDEX case_report_geom ON case_report USING gist(geom)'),
    'no-dirty': ('ALTER TABLE case_report DISABLE TRIGGER report_dirty_ins',
                 'ALTER TABLE case_report ENABLE TRIGGER report_dirty_ins'),
    'no-alert': ('ALTER TABLE case_report DISABLE TRIGGER case_report_alert',
                 'ALTER TABLE case_report ENABLE TRIGGER case_report_alert'),
    'bare': ('', ''),      # every secondary index dropped, no triggers: filled in main()
}


def storm_rows(env, args):
    import random
    rnd = random.Random(11)
    vill = hb.villages(env.pg)
    per_node = []
    for _ in range(args.nodes):
        node = hubtest.uuid7()
        per_node.append([(node, r) for r in hb.make_rows(node, 1, args.node_rows, vill, rnd)])
    batches = []
    for k in range(0, args.node_rows, args.batch):     # round k of every node, as in a storm
        for rows in per_node:
            batches.append(rows[k:k + args.batch])
    return batches


def write_batches(env, batches, sessions):
    return hb.copy_scripts(os.path.join(env.pg.dir, 'batches'),
                           (hb.copy_text([r for _, r in b]) for b in batches), sessions)


def bare_sql(env):
    idx = env.pg.psql("SELECT string_agg(indexdef, '; ') FROM pg_indexes WHERE "
                      "tablename = 'case_report' AND indexname <> 'case_report_pkey'").strip()
    names = env.pg.psql("SELECT string_agg(indexname, ', ') FROM pg_indexes WHERE "
                        "tablename = 'case_report' AND indexname <> 'case_report_pkey'").strip()
    return ('DROP INDEX %s; ALTER TABLE case_report DISABLE TRIGGER USER' % names,
            idx + '; ALTER TABLE case_report ENABLE TRIGGER USER')


def run_variant(env, sqls, name, rows):
    do, undo = VARIANTS[name]
    env.pg.psql(hb.EMPTY_CASES)
    if do:
        env.pg.psql(do)
    env.pg.psql('CHECKPOINT')
    t0 = time.time()
    c0 = hb.cpu_seconds(env.pg.pid(), children=True)
    hb.run_copy_scripts(env.pg, sqls)
    env.pg.psql('CHECKPOINT')        # the dirty pages' writing is part of the cost
    dt = time.time() - t0
    cpu = hb.cpu_seconds(env.pg.pid(), children=True) - c0
    n = int(env.pg.scalar('SELECT count(*) FROM case_report'))
    if undo:
        env.pg.psql(undo)
    assert n == rows, (n, rows)
    return cpu, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('hub')
    ap.add_argument('--nodes', type=int, default=40)
    ap.add_argument('--node-rows', type=int, default=10000)
    ap.add_argument('--batch', type=int, default=2500)
    ap.add_argument('--repeat', type=int, default=1)
    ap.add_argument('--sessions', type=int, default=1,
                    help='sessions COPYing at once (the hub: --pg-conns, 4)')
    ap.add_argument('--variant', action='append', choices=sorted(VARIANTS))
    ap.add_argument('--pg-set', action='append', default=[], metavar='NAME=VALUE')
    args = ap.parse_args()
    os.environ['SIKHNAS_HUB'] = os.path.abspath(args.hub)
    pg = dict(kv.split('=', 1) for kv in args.pg_set)
    names = args.variant or list(VARIANTS)
    if 'as-migrated' not in names:
        names.insert(0, 'as-migrated')
    with hubtest.Env(pg_settings=pg) as env:
        VARIANTS['bare'] = bare_sql(env)
        batches = storm_rows(env, args)
        rows = sum(len(b) for b in batches)
        sqls = write_batches(env, batches, args.sessions)
        print('%d rows in %d batches of %d, one transaction each, %d session(s) at once; load %s'
              % (rows, len(batches), args.batch, args.sessions,
                 open('/proc/loadavg').read().strip()))
        got = {}
        for _ in range(args.repeat):
            for name in names:
                cpu, dt = run_variant(env, sqls, name, rows)
                got.setdefault(name, []).append(cpu)
                print('%-17s: PostgreSQL %.1f CPU-s (%.1f us/row), wall %.1f s'
                      % (name, cpu, cpu / rows * 1e6, dt), flush=True)
        base = min(got['as-migrated'])
        print('best of %d, against as-migrated (%.1f us/row); load %s'
              % (args.repeat, base / rows * 1e6, open('/proc/loadavg').read().strip()))
        for name in names:
            c = min(got[name])
            print('  %-17s %6.1f us/row  %+6.1f us/row  %+5.1f %%'
                  % (name, c / rows * 1e6, (c - base) / rows * 1e6, 100 * (c - base) / base))

if __name__ == '__main__':
    main()
