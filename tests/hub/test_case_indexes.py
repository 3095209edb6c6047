#!/usr/bin/env python3
"""test_case_indexes.py - case_report's indexes after 016_case_report_index_cost.sql,
on a real PostgreSQL 15 + PostGIS (tests/lib/pgtemp.py).

    test_case_indexes.py SIKHNAS_HUB

- No index on the village alone; the queries that find a village's cases
  (the district's index, the village filtered) are planned on the
  district's index and answer as a scan of the table.
- The map's spot lookup (the shape of hub/web/web_data.c "map_at") stays on
  the point's GiST index, with the same answers as a scan of the table,
  points on the box's edges and just outside it included.
- Upgrade: a database whose case_report still has the village index, with
  rows in it, gets the migration on `migrate` and keeps every row."""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import pgtemp  # noqa: E402

HUB = sys.argv.pop(1)
PG = None

# 20,000 case reports: 200 spots of 100 reports each on a 0.001-degree grid
# (so that 1e-5 boxes hold exactly one spot), 50 villages in each of 40
# districts (3200..3239), over 300 days
ROWS = """
INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind, village,
                         animals, event_date, geom)
SELECT 'c' || i, 'n1', i, now(), now(), '3201-' || lpad(i::text, 6, '0'), 'U',
       (3200 + i %% 40)::text || lpad((i %% 50)::text, 6, '0'), '[{"species": "SP", "sick": 1}]',
       DATE '2026-01-01' + (i %% 300),
       ST_SetSRID(ST_MakePoint(106.7 + (i %% 200) * 0.001, -6.7 + (i %% 200) * 0.0005), 4326)
FROM generate_series(1, %d) i
"""

SPOT = """
SELECT c.id FROM case_report c
WHERE c.geom && ST_MakeEnvelope(%(x).5f - 1e-5, %(y).5f - 1e-5, %(x).5f + 1e-5, %(y).5f + 1e-5, 4326)
  AND round(ST_X(c.geom)::numeric, 5)::float8 = %(x).5f
  AND round(ST_Y(c.geom)::numeric, 5)::float8 = %(y).5f
  AND c.deleted = 0 AND c.event_date BETWEEN '2026-01-01' AND '2026-12-31'
ORDER BY c.event_date DESC, c.id
"""

VILLAGE = """
SELECT c.id FROM case_report c
WHERE c.deleted = 0 AND c.event_date BETWEEN '2026-01-01' AND '2026-06-30'
  AND left(c.village, 4) = left('3201000011', 4) AND left(c.village, 10) = '3201000011'
ORDER BY c.event_date DESC
"""


def migrate():
    subprocess.run([HUB, '--pg', PG.conninfo, 'migrate'], check=True, capture_output=True)


def plan(sql, settings=''):
    return PG.psql('BEGIN; %s EXPLAIN (COSTS OFF) %s; ROLLBACK' % (settings, sql))


def ids(sql, settings=''):
    out = PG.psql('BEGIN; %s %s; ROLLBACK' % (settings, sql)).split()
    return [x for x in out if x not in ('BEGIN', 'SET', 'ROLLBACK')]


def indexes():
    return dict(l.split('|', 1) for l in PG.psql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'case_report'"
    ).splitlines())


class CaseIndexes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global PG
        PG = pgtemp.PgTemp().start()
        migrate()
        PG.psql(ROWS % 20000 + '; ANALYZE case_report')

    @classmethod
    def tearDownClass(cls):
        PG.cleanup()

    def test_no_village_index_and_the_others_kept(self):
        idx = indexes()
        self.assertIn('USING gist (geom)', idx['case_report_geom'])
        for name in ('case_report_pkey', 'case_report_date', 'case_report_ref',
                     'case_report_district_week', 'case_report_province_date',
                     'case_report_priority_district_week'):
            self.assertIn(name, idx)
        self.assertNotIn('case_report_village', idx)
        self.assertFalse([n for n, d in idx.items() if d.endswith('(village)')], idx)

    def test_spot_lookup_uses_the_point_index(self):
        self.assertIn('case_report_geom', plan(SPOT % {'x': 106.71, 'y': -6.695}))

    def test_spot_lookup_same_answer_as_a_table_scan(self):
        scan = 'SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;'
        for k in (0, 10, 199):                      # the corners of the grid and inside
            x, y = 106.7 + k * 0.001, -6.7 + k * 0.0005
            for dx in (0, 0.00001):                 # on the spot; just outside its box's edge
                q = SPOT % {'x': x + dx, 'y': y}
                self.assertNotIn('case_report_geom', plan(q, scan))
                got, want = ids(q), ids(q, scan)
                self.assertEqual(got, want)
                self.assertEqual(len(got), 100 if dx == 0 else 0, (k, dx))

    def test_village_cases_on_the_district_index(self):
        self.assertIn('case_report_district_week', plan(VILLAGE))
        # the village's 100 rows are i = 161 (mod 200); their days (i mod 300)
        # run 161, 61, 261, ...: two of three in the first half year
        self.assertEqual(len(ids(VILLAGE)), 67)
        scan = 'SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;'
        self.assertEqual(ids(VILLAGE), ids(VILLAGE, scan))

    def test_upgrade_of_a_filled_table(self):
        PG.psql("CREATE INDEX case_report_village ON case_report(village); "
                "DELETE FROM schema_migration WHERE version = 16")
        before = ids('SELECT count(*), md5(string_agg(id || ST_AsText(geom), \',\' ORDER BY id)) '
                     'FROM case_report')
        self.assertIn('case_report_village', indexes())
        migrate()
        self.assertNotIn('case_report_village', indexes())
        self.assertEqual(PG.scalar('SELECT count(*) FROM schema_migration WHERE version = 16'), 1)
        self.assertEqual(ids('SELECT count(*), md5(string_agg(id || ST_AsText(geom), \',\' '
                             'ORDER BY id)) FROM case_report'), before)
        self.assertEqual(len(ids(SPOT % {'x': 106.71, 'y': -6.695})), 100)


if __name__ == '__main__':
    unittest.main(verbosity=2)
