#!/usr/bin/env python3
"""test_analyst.py - the analysts' side of the central, end to end: the
reporting schema (schema/central/010-012) on a real PostgreSQL + PostGIS
primary with a hot standby, sikhnas-web reading the standby over HTTPS.

    test_analyst.py SIKHNAS_WEB SIKHNAS_HUB

The seed (analystlib.seed_sql) has, in last week (W1): c1 (3201, U, KBG,
SP sick 3 dead 1 of 20), c2 (3201, P MMD, SP 1 + 2 of 10, a follow-up MS
two days later), c3 (5101, U, KBG, SP 7 + 3 of 50, ref '=1+1'); 3202
reported one case a week in W2..W5 and none since (silent); a vaccination
(SP 40 + 10) against a population of 200 SP; a permit 3201 -> 3202 of 12
SP; a slaughter of 4 SP; a conflict on c1. So nationally in W1: 3
reports, 11 sick, 6 dead, attack rate 17/80 = 21.25 %, case fatality 6/17
= 35.29 %."""
import csv
import datetime
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analystlib as A  # noqa: E402

WEB, HUB = sys.argv[1], sys.argv[2]
C = None
DATASETS = ['weekly', 'epi', 'drill', 'cases', 'case', 'completeness', 'silent_villages',
            'vaccination', 'movements', 'slaughter', 'priority', 'map_points', 'map_points_compact',
            'map_at', 'map_districts']
AREA_KEYS = ('district', 'village', 'area', 'code', 'from_district', 'to_district')


def setUpModule():
    global C
    C = A.Central(WEB, HUB, replica=True)
    C.start_web(upkeep=True)


def tearDownModule():
    if C:
        C.close()


def read_xlsx(path):
    """The rows of the first worksheet, read by openpyxl (Debian's
    python3-openpyxl, with the system's Python when another one runs us)."""
    code = ('import json, sys, openpyxl\n'
            'ws = openpyxl.load_workbook(sys.argv[1], read_only=True).active\n'
            'print(json.dumps([list(r) for r in ws.iter_rows(values_only=True)]))')
    try:
        import openpyxl  # noqa: F401
        py = sys.executable
    except ImportError:
        py = '/usr/bin/python3'
    out = subprocess.run([py, '-c', code, path], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def week_row(rows, monday):
    return [r for r in rows if r['week'] == monday.isoformat()][0]


class Figures(unittest.TestCase):
    def test_weekly_national(self):
        rows = C.session('nat').data('weekly')
        w = week_row(rows, A.W(1))
        self.assertEqual((w['reports'], w['sick'], w['dead'], w['at_risk']), (3, 11, 6, 80))
        self.assertAlmostEqual(w['attack_rate_pct'], 21.25)
        self.assertAlmostEqual(w['case_fatality_pct'], 35.29)
        # every week of the period is there, empty ones with 0
        self.assertGreaterEqual(len(rows), 52)
        self.assertEqual(week_row(rows, A.W(7))['reports'], 0)

    def test_weekly_filters(self):
        s = C.session('nat')
        self.assertEqual(week_row(s.data('weekly', area='32'), A.W(1))['reports'], 2)
        self.assertEqual(week_row(s.data('weekly', code='MMD'), A.W(1))['reports'], 1)
        self.assertEqual(week_row(s.data('weekly', species='KB'), A.W(1))['reports'], 0)
        self.assertEqual(week_row(s.data('weekly', species='KB'), A.W(2))['sick'], 5)

    def test_epi_by_province(self):
        rows = C.session('nat').data('epi', by='province', code='*',
                                     **{'from': A.W(1).isoformat(), 'to': A.W(1).isoformat()})
        got = {(r['area'], r['species']): (r['reports'], r['sick'], r['dead']) for r in rows}
        self.assertEqual(got, {('32', 'SP'): (2, 4, 3), ('51', 'SP'): (1, 7, 3)})
        self.assertEqual([r['area_name'] for r in rows if r['area'] == '32'], ['Jawa Barat'])

    def test_drill_down(self):
        s = C.session('nat')
        self.assertEqual([r['code'] for r in s.data('drill')], ['32', '51'])
        d = {r['code']: r for r in s.data('drill', area='32')}
        self.assertEqual((d['3201']['reports'], d['3202']['reports']), (2, 4))
        v = s.data('drill', area='3201')
        self.assertEqual(sorted(r['code'] for r in v), ['3201011001', '3201011002'])
        self.assertEqual({r['code']: r['name'] for r in v}['3201011001'], 'Pondok Rajeg')
        cases = s.data('cases', area='3201011002')
        self.assertEqual([c['id'] for c in cases], ['c2'])

    def test_case_history(self):
        c = C.session('nat').data('case', id='c1')[0]
        self.assertEqual(c['ref'], 'REF-c1')
        self.assertEqual(c['animals'][0]['sick'], 3)
        self.assertEqual(c['conflicts'][0]['loser_node'], 'central')
        self.assertEqual(c['conflicts'][0]['loser'], {'note': 'lost'})
        self.assertEqual(c['geom']['coordinates'], [106.8, -6.5])
        c2 = C.session('nat').data('case', id='c2')[0]
        self.assertEqual([f['outcome'] for f in c2['followups']], ['MS'])
        self.assertEqual(c['versions'], [])

    def test_case_history_keeps_every_version(self):
        """The versions a sender replaced (a corrected count, a moved date,
        a deletion) are on the case page, oldest first."""
        C.pg.psql(A.case_sql('cafe01', '3202011001', 'U', A.W(60),   # outside the pages' year
                             [{'species': 'SP', 'sick': 2, 'dead': 0}], signs=['KBG']))
        C.pg.psql("UPDATE case_report SET hlc = 2, animals = '[{\"species\": \"SP\","
                  " \"sick\": 5, \"dead\": 1}]', src_batch = 2 WHERE id = 'cafe01'")
        C.pg.psql("UPDATE case_report SET hlc = 3, event_date = event_date + 1 WHERE id = 'cafe01'")
        C.sync_replica()
        c = C.session('nat').data('case', id='cafe01')[0]
        v = c['versions']
        self.assertEqual(len(v), 2)
        self.assertEqual(v[0]['hlc'], '1')       # a central write stamps its own hlc
        self.assertEqual(v[0]['version']['animals'][0]['sick'], 2)
        self.assertEqual(v[1]['version']['animals'][0]['sick'], 5)
        self.assertEqual(v[1]['version']['event_date'], A.W(60).isoformat())
        self.assertEqual(c['animals'][0]['sick'], 5)
        # scope: the versions come with their case only
        r = C.session('bogor').get('case', id='cafe01')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), [])
        C.pg.psql("UPDATE case_report SET hlc = 4, deleted = 1 WHERE id = 'cafe01'")
        C.sync_replica()
        self.assertEqual(len(C.session('nat').data('case', id='cafe01')[0]['versions']), 3)

    def test_completeness(self):
        rows = {r['district']: r for r in C.session('jabar').data('completeness')}
        self.assertTrue(rows['3202']['silent'])
        self.assertEqual(rows['3202']['weeks_reported_of_8'], 4)
        self.assertFalse(rows['3201']['silent'])
        self.assertEqual(rows['3201']['name'], 'Kabupaten Bogor')
        v = C.session('jabar').data('silent_villages')
        self.assertEqual([r['village'] for r in v], ['3202011001'])

    def test_vaccination_movement_slaughter_priority(self):
        s = C.session('nat')
        v = s.data('vaccination')
        self.assertEqual((v[0]['vaccinated'], v[0]['population'], v[0]['coverage_pct']),
                         (50, 200, 25.0))
        m = s.data('movements')
        self.assertEqual((m[0]['from_district'], m[0]['to_district'], m[0]['animals']),
                         ('3201', '3202', 12))
        self.assertEqual(s.data('slaughter')[0]['animals'], 4)
        p = s.data('priority')
        self.assertEqual((p[0]['id'], p[0]['days_to_response'], p[0]['outcome'], p[0]['open']),
                         ('c2', 2, 'MS', True))

    def test_map(self):
        s = C.session('nat')
        d = {r['district']: r for r in s.data('map_districts')}
        self.assertEqual(d['3201']['geom']['coordinates'], [106.825, -6.525])   # case centroid
        self.assertEqual(len(s.data('map_points')), 7)
        # what the map page reads: the same points merged by spot, then the
        # cases at a clicked spot (newest first)
        m = s.data('map_points_compact')
        self.assertEqual(len(m), 1)
        self.assertEqual((m[0]['points'], m[0]['spots']), (7, 4))
        self.assertEqual(m[0]['xyn'], [106.8, -6.5, 1, 106.85, -6.55, 1, 106.9, -6.9, 4,
                                       114.6, -8.35, 1])
        self.assertEqual([r['id'] for r in s.data('map_at', lon='106.9', lat='-6.9')],
                         ['s2', 's3', 's4', 's5'])
        self.assertEqual([r['id'] for r in s.data('map_at', lon='106.9', lat='-6.9', limit=2)],
                         ['s2', 's3'])
        self.assertEqual([r['id'] for r in s.data('map_at', lon='114.6', lat='-8.35')], ['c3'])
        self.assertEqual(s.data('map_at', lon='106.90001', lat='-6.9'), [])
        self.assertEqual(s.data('map_at', lon='106.9', lat='-6.9', code='KBG'), [])
        self.assertEqual(s.data('map_at'), [])
        self.assertEqual(s.data('map_points_compact', code='MMD')[0]['xyn'], [106.85, -6.55, 1])
        self.assertEqual(s.data('map_points_compact', code='XYZ'), [{'points': 0, 'spots': 0,
                                                                     'xyn': []}])


class Scope(unittest.TestCase):
    def test_outside_scope_refused_on_every_endpoint(self):
        jabar, bogor = C.session('jabar'), C.session('bogor')
        for name in DATASETS:
            for fmt in ('json', 'csv'):
                self.assertEqual(jabar.get(name, area='51', format=fmt, id='c3').status, 403, name)
                self.assertEqual(bogor.get(name, area='32', format=fmt, id='c1').status, 403, name)
                self.assertEqual(bogor.get(name, area='3202', format=fmt).status, 403, name)

    def test_map_spots_stay_within_scope(self):
        # the compact points carry no area code: their coordinates say it
        for login, want in (('jabar', [106.8, -6.5, 1, 106.85, -6.55, 1, 106.9, -6.9, 4]),
                            ('bogor', [106.8, -6.5, 1, 106.85, -6.55, 1])):
            s = C.session(login)
            m = s.data('map_points_compact')[0]
            self.assertEqual((m['xyn'], m['points']), (want, sum(want[2::3])), login)
            self.assertEqual(s.data('map_at', lon='114.6', lat='-8.35'), [], login)  # Bali's c3
        self.assertEqual(C.session('bogor').data('map_at', lon='106.9', lat='-6.9'), [])  # 3202
        self.assertEqual(len(C.session('jabar').data('map_at', lon='106.9', lat='-6.9')), 4)

    def test_rows_stay_within_scope(self):
        for login, prefix in (('jabar', '32'), ('bogor', '3201')):
            s = C.session(login)
            for name in DATASETS:
                rows = s.data(name, id='c3')
                if name == 'map_points_compact':    # no area column: the test above
                    continue
                if name == 'weekly':             # no area column: the figures say it
                    self.assertEqual(week_row(rows, A.W(1))['reports'], 2)
                    self.assertEqual(week_row(rows, A.W(1))['sick'], 4)
                    continue
                for r in rows:
                    codes = [r[k] for k in AREA_KEYS if r.get(k) and
                             not (k == 'code' and name == 'epi')]      # there: a syndrome
                    if name == 'movements':      # flows from or to the scope
                        self.assertTrue(any(c.startswith(prefix) for c in codes), (name, r))
                    else:
                        self.assertTrue(codes and all(c.startswith(prefix) for c in codes),
                                        (login, name, r))
        # another province's case by id: nothing
        self.assertEqual(C.session('jabar').data('case', id='c3'), [])

    def test_login_required_and_roles(self):
        anon = C.session()
        for name in DATASETS + ['status']:
            self.assertEqual(anon.get(name).status, 401, name)
        ops = C.session('ops')
        self.assertEqual(ops.get('weekly').status, 403)
        self.assertEqual(ops.request('GET', '/api/v1/ops/status').status, 200)
        self.assertEqual(C.session('nat').request('GET', '/api/v1/ops/status').status, 403)

    def test_bad_filters(self):
        s = C.session('nat')
        for q in ({'area': '3'}, {'area': 'x1'}, {'from': '2024-13-01'}, {'species': "SP'"},
                  {'by': 'planet'}, {'limit': '0'}, {'format': 'pdf'}, {'lon': '106.8'},
                  {'lon': '1e2', 'lat': '1'}, {'lon': '106.8', 'lat': '-91'}):
            self.assertEqual(s.get('weekly', **q).status, 400, q)
        self.assertEqual(s.get('nosuch').status, 404)


class Cache(unittest.TestCase):
    def test_concurrent_misses_query_once(self):
        """Requests that miss the same key while it is being queried wait
        for that query's answer (single flight): one query, one answer."""
        C.stop_web()
        try:
            C.start_web(upkeep=False, extra=['--cache-seconds', '300'], verbose=True)
            sessions = [C.session('nat') for _ in range(6)]
            q = {'from': A.W(30).isoformat()}       # a key nobody asked for yet
            # the table the page reads is locked on the primary, so on the
            # standby too: every request misses and waits at once
            lock = subprocess.Popen(['psql', '-X', '-q', '-d', C.pg.conninfo, '-c',
                                     'BEGIN; LOCK TABLE report.national_week IN ACCESS EXCLUSIVE'
                                     ' MODE; SELECT pg_sleep(3); COMMIT'],
                                    stdout=subprocess.DEVNULL)
            time.sleep(1)
            C.pg.psql('SELECT pg_current_xact_id()')  # a commit flushes the lock's WAL
            C.sync_replica()
            queried = C.log().count('web: weekly: ')
            got = [None] * len(sessions)

            def ask(i):
                got[i] = sessions[i].data('weekly', **q)
            ths = [threading.Thread(target=ask, args=(i,)) for i in range(len(sessions))]
            for t in ths:
                t.start()
            for t in ths:
                t.join()
            lock.wait()
            self.assertTrue(all(g == got[0] for g in got) and len(got[0]) >= 30)
            self.assertEqual(C.log().count('web: weekly: ') - queried, 1, C.log()[-3000:])
        finally:
            C.stop_web()
            C.start_web(upkeep=True)

    def test_a_page_being_refreshed_answers_from_its_last_answer(self):
        """Past its ttl, one request queries again; the others meanwhile get
        the last answer at once instead of waiting for that query."""
        week = ("CREATE OR REPLACE FUNCTION report.week(d date) RETURNS date LANGUAGE %s"
                " IMMUTABLE STRICT PARALLEL SAFE AS $$ %s $$")
        C.stop_web()
        try:
            C.start_web(upkeep=False, extra=['--cache-seconds', '1'])
            s, s2 = C.session('nat'), C.session('nat')
            q = {'from': A.W(40).isoformat()}
            first = s.data('weekly', **q)
            time.sleep(1.2)
            # the page's query made slow (on the primary, so on the standby)
            C.pg.psql(week % ('plpgsql', 'BEGIN PERFORM pg_sleep(0.5);'
                              ' RETURN d - (extract(isodow FROM d)::int - 1); END'))
            C.sync_replica()
            took = []

            def refresh():
                t = time.time()
                s.data('weekly', **q)
                took.append(time.time() - t)
            refresher = threading.Thread(target=refresh)
            refresher.start()
            time.sleep(0.3)             # it queries, slowly
            t0 = time.time()
            self.assertEqual(s2.data('weekly', **q), first)
            self.assertLess(time.time() - t0, 0.5)
            refresher.join()
            self.assertGreater(took[0], 1.0)        # it waited for its query
        finally:
            C.pg.psql(week % ('sql', 'SELECT d - (extract(isodow FROM d)::int - 1)'))
            C.stop_web()
            C.start_web(upkeep=True)

    def test_pages_answer_from_the_cache(self):
        """With --cache-seconds, an answer is kept per dataset and filter."""
        C.stop_web()
        try:
            C.start_web(upkeep=True, extra=['--cache-seconds', '300'])
            s = C.session('nat')
            before = week_row(s.data('weekly'), A.W(3))['reports']
            before51 = week_row(s.data('weekly', area='51'), A.W(3))['reports']
            # kept gzipped: as such to a client that takes gzip, inflated to others
            plain = s.get('weekly')
            gz = s.request('GET', '/api/v1/data/weekly?', headers={'Accept-Encoding': 'gzip'})
            self.assertEqual(gz.headers.getheader('Content-Encoding'), 'gzip')
            self.assertIsNone(plain.headers.getheader('Content-Encoding'))
            self.assertEqual(json.loads(gzip.decompress(gz.body)), plain.json())
            C.pg.psql(A.case_sql('cached1', '5101011001', 'U', A.W(3),
                                 [{'species': 'SP', 'sick': 2, 'dead': 0}], signs=['KBG']))
            t0 = time.time()
            while time.time() - t0 < 60 and C.pg.psql(
                    "SELECT count(*) FROM report.dirty") != '0':
                time.sleep(0.1)
            C.sync_replica()
            self.assertEqual(week_row(s.data('weekly'), A.W(3))['reports'], before)  # kept
            self.assertEqual(week_row(s.data('weekly', area='51'), A.W(3))['reports'],
                             before51)                                               # kept
            self.assertEqual(week_row(s.data('weekly', area='5101'), A.W(3))['reports'],
                             before51 + 1)                  # another filter: asked anew
            # another scope never gets a kept answer of a wider one
            self.assertEqual([r['code'] for r in C.session('jabar').data('drill')],
                             ['3202', '3201'])
            self.assertEqual([r['code'] for r in s.data('drill')], ['32', '51'])
        finally:
            C.pg.psql("UPDATE case_report SET deleted = 1 WHERE id = 'cached1'")
            C.stop_web()
            C.start_web(upkeep=True)


class Exports(unittest.TestCase):
    def test_csv(self):
        s = C.session('nat')
        r = s.get('cases', format='csv')
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body.startswith(b'\xef\xbb\xbf'))
        self.assertIn('attachment; filename="sikhnas-cases.csv"', r.headers.getheader(
            'Content-Disposition'))
        rows = list(csv.DictReader(io.StringIO(r.body.decode('utf-8-sig'))))
        js = s.data('cases')
        self.assertEqual([x['id'] for x in rows], [x['id'] for x in js])
        c3 = [x for x in rows if x['id'] == 'c3'][0]
        self.assertEqual(c3['ref'], "'=1+1")         # not a formula in a spreadsheet
        self.assertEqual(c3['sick'], '7')

    def test_xlsx_opened_by_openpyxl(self):
        path = os.path.join(C.tmp, 'weekly.xlsx')
        r = C.session('jabar').get('weekly', format='xlsx')
        self.assertEqual(r.status, 200)
        with open(path, 'wb') as f:
            f.write(r.body)
        rows = [tuple(x) for x in read_xlsx(path)]
        self.assertEqual(rows[0][:4], ('week', 'reports', 'villages', 'sick'))
        w1 = [x for x in rows[1:] if x[0] == A.W(1).isoformat()][0]
        self.assertEqual((w1[1], w1[3], w1[4]), (2, 4, 3))      # numbers, not text

    def test_geojson_read_by_ogr2ogr(self):
        src = os.path.join(C.tmp, 'cases.geojson')
        dst = os.path.join(C.tmp, 'cases.gpkg')
        r = C.session('jabar').get('cases', format='geojson')
        with open(src, 'wb') as f:
            f.write(r.body)
        subprocess.run(['ogr2ogr', '-f', 'GPKG', dst, src, '-nln', 'cases'], check=True,
                       capture_output=True)
        with sqlite3.connect(dst) as db:
            ids = sorted(x[0] for x in db.execute('SELECT id FROM cases'))
        self.assertEqual(ids, ['c1', 'c2', 's2', 's3', 's4', 's5'])

    def test_gis_views_read_by_ogr2ogr(self):
        dst = os.path.join(C.tmp, 'views.gpkg')
        pg = 'PG:%s' % C.pg.conninfo
        for view in ('report.case_point', 'report.district_centroid', 'report.priority_event'):
            subprocess.run(['ogr2ogr', '-f', 'GPKG', '-update', '-append', dst, pg, view, '-nln',
                            view.split('.')[1]], check=True, capture_output=True)
        with sqlite3.connect(dst) as db:
            self.assertEqual(db.execute('SELECT count(*) FROM case_point').fetchone()[0], 7)
            self.assertEqual(db.execute('SELECT count(*) FROM priority_event').fetchone()[0], 1)
            self.assertEqual(db.execute(
                "SELECT geometry_type_name FROM gpkg_geometry_columns WHERE table_name ="
                " 'district_centroid'").fetchone()[0], 'POINT')


class Accounts(unittest.TestCase):
    def test_throttle_locks_out_a_guesser(self):
        C.cli(['account', 'add', 'guess', '--name', 'G', '--role', 'national'], 'benar-sekali-1\n')
        s = C.session()
        for _ in range(5):
            self.assertEqual(s.login('guess', 'salah-salah-1').status, 401)
        r = s.login('guess', 'benar-sekali-1')
        self.assertEqual((r.status, r.json()['error']), (429, 'locked_out'))

    def test_csrf_and_logout(self):
        s = C.session('nat')
        self.assertEqual(s.request('POST', '/api/logout').status, 403)
        self.assertEqual(s.request('POST', '/api/logout', headers={'X-CSRF-Token': 'x' * 43})
                         .status, 403)
        self.assertEqual(s.request('GET', '/api/me').status, 200)
        self.assertEqual(s.request('POST', '/api/logout',
                                   headers={'X-CSRF-Token': s.csrf}).status, 200)
        self.assertEqual(s.request('GET', '/api/me').status, 401)

    def test_login_needs_json(self):
        r = C.session().request('POST', '/api/login', 'login=nat&password=x',
                                {'Content-Type': 'application/x-www-form-urlencoded'})
        self.assertEqual(r.status, 415)

    def test_account_commands(self):
        C.cli(['account', 'add', 'lia', '--name', 'Lia', '--role', 'district', '--scope', '3201'],
              'kata-sandi-lia\n')
        s = C.session()
        self.assertEqual(s.login('lia', 'kata-sandi-lia').status, 200)
        self.assertIn('lia', C.cli(['account', 'list']))
        C.cli(['account', 'disable', 'lia'])
        self.assertEqual(s.request('GET', '/api/me').status, 401)     # sessions ended
        self.assertEqual(C.session().login('lia', 'kata-sandi-lia').status, 401)
        C.cli(['account', 'enable', 'lia'])
        pw = C.cli(['account', 'reset', 'lia']).strip()               # a random one, printed
        self.assertGreaterEqual(len(pw), 16)
        self.assertEqual(C.session().login('lia', 'kata-sandi-lia').status, 401)
        self.assertEqual(C.session().login('lia', pw).status, 200)
        # bad accounts change nothing
        for args in (['--role', 'province', '--scope', '3201'], ['--role', 'king'],
                     ['--role', 'district']):
            r = C.cli(['account', 'add', 'bad', '--name', 'B'] + args, 'kata-sandi-bad\n',
                      check=False)
            self.assertEqual(r.returncode, 1, args)
        self.assertNotIn('bad ', C.cli(['account', 'list']))
        self.assertEqual(C.cli(['account', 'add', 'x'], check=False).returncode, 2)
        for bad in (['serve', '--pg-conns', '0'], ['serve', '--statement-timeout', '5x'],
                    ['serve', '--nosuch'], ['dance']):
            r = C.cli(bad, check=False)
            self.assertEqual(r.returncode, 2, bad)


class LateRecord(unittest.TestCase):
    def test_late_record_updates_its_week_within_a_minute(self):
        """A report dated five weeks back lands today: its week's row changes,
        in the district, province and national tables and their epi tables."""
        s = C.session('nat')
        q = {'from': A.W(6).isoformat()}
        w5 = {'from': A.W(5).isoformat(), 'to': A.W(5).isoformat()}
        views = {   # what each reads: the roll-up of its level
            'national': lambda: week_row(s.data('weekly', **q), A.W(5)),
            'province': lambda: week_row(s.data('weekly', area='32', **q), A.W(5)),
            'district': lambda: week_row(s.data('weekly', area='3201', **q), A.W(5)),
            'national SP': lambda: week_row(s.data('weekly', species='SP', **q), A.W(5)),
            'province KBG': lambda: week_row(s.data('weekly', area='32', code='KBG', **q),
                                             A.W(5)),
            'epi by province': lambda: sum(r['reports'] for r in s.data(
                'epi', by='province', code='*', **w5) if r['area'] == '32'),
            'epi national': lambda: sum(r['reports'] for r in s.data(
                'epi', by='national', code='KBG', **w5)),
        }
        before = {k: f() for k, f in views.items()}
        C.pg.psql(A.case_sql('late1', '3201011001', 'U', A.W(5),
                             [{'species': 'SP', 'sick': 9, 'dead': 0}], signs=['KBG']))
        t0 = time.time()
        while time.time() - t0 < 60:
            now = views['national']()
            if now['reports'] == before['national']['reports'] + 1:
                break
            time.sleep(0.2)
        took = time.time() - t0
        self.assertEqual((now['reports'], now['sick']), (before['national']['reports'] + 1,
                                                         before['national']['sick'] + 9))
        print('late record visible on the replica after %.1f s' % took, file=sys.stderr)
        self.assertLess(took, 60)
        # the same round of upkeep wrote every level
        for k in ('province', 'district', 'national SP', 'province KBG'):
            got = views[k]()
            self.assertEqual((got['reports'], got['sick']),
                             (before[k]['reports'] + 1, before[k]['sick'] + 9), k)
        for k in ('epi by province', 'epi national'):
            self.assertEqual(views[k](), before[k] + 1, k)
        # moved to another week (an update: both weeks change), then deleted
        C.pg.psql("UPDATE case_report SET event_date = '%s' WHERE id = 'late1'" % A.W(6))
        self.wait_week(s, q, A.W(5), before['national']['reports'])
        self.wait_week(s, q, A.W(6), 1)
        self.assertEqual(views['province']()['reports'], before['province']['reports'])
        self.assertEqual(views['epi by province'](), before['epi by province'])
        C.pg.psql("UPDATE case_report SET deleted = 1 WHERE id = 'late1'")
        self.wait_week(s, q, A.W(6), 0)
        self.assertEqual(week_row(s.data('weekly', area='32', **q), A.W(6))['reports'], 0)

    def test_late_priority_event_and_its_followup(self):
        """The stored priority events follow their case and its follow-ups."""
        s = C.session('nat')
        q = {'from': A.W(6).isoformat(), 'area': '3201'}

        def event():
            return {p['id']: p for p in s.data('priority', **q)}.get('late2')
        C.pg.psql(A.case_sql('late2', '3201011002', 'P', A.W(5),
                             [{'species': 'SP', 'sick': 4, 'dead': 1}], syndrome='MMU'))
        self.wait_for(lambda: event() is not None)
        e = event()
        self.assertEqual((e['followups'], e['open'], e['sick'], e['syndrome']), (0, True, 4, 'MMU'))
        C.pg.psql("INSERT INTO case_followup (id, origin, hlc, created_at, updated_at, case_id,"
                  " outcome, event_date, district) VALUES ('f-late2', 'n-3201', 3, now(), now(),"
                  " 'late2', 'SB', '%s', '3201')" % (A.W(5) + datetime.timedelta(days=3)))
        self.wait_for(lambda: event()['followups'] == 1)
        e = event()
        self.assertEqual((e['outcome'], e['open'], e['days_to_response']), ('SB', False, 3))
        C.pg.psql("UPDATE case_report SET deleted = 1 WHERE id = 'late2'")
        self.wait_for(lambda: event() is None)

    def wait_for(self, cond):
        t0 = time.time()
        while time.time() - t0 < 60:
            if cond():
                return
            time.sleep(0.2)
        self.fail('not within a minute')

    def wait_week(self, s, q, monday, reports):
        t0 = time.time()
        while time.time() - t0 < 60:
            n = week_row(s.data('weekly', **q), monday)['reports']
            if n == reports:
                return
            time.sleep(0.2)
        self.fail('week %s: %d reports, not %s' % (monday, n, reports))

    def test_replica_and_lag_shown(self):
        st = C.session('nat').data('status')[0]
        self.assertTrue(st['replica'])
        self.assertGreaterEqual(st['replica_lag_s'], 0)


class Operator(unittest.TestCase):
    def test_ops_pages_need_a_client_certificate(self):
        d = C.tmp
        key, csr, crt = (os.path.join(d, n) for n in ('op.key', 'op.csr', 'op.pem'))
        for argv in (['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key],
                     ['req', '-new', '-key', key, '-subj', '/CN=operator', '-out', csr],
                     ['x509', '-req', '-in', csr, '-CA', C.ca, '-CAkey',
                      os.path.join(d, 'ca.key'), '-CAcreateserial', '-days', '1', '-out', crt]):
            subprocess.run(['openssl'] + argv, check=True, capture_output=True)
        C.stop_web()
        try:
            C.start_web(upkeep=True, client_ca=C.ca)
            self.assertEqual(C.session('ops').request('GET', '/api/v1/ops/status').status, 403)
            with_cert = C.session('ops', cert=(crt, key))
            self.assertEqual(with_cert.request('GET', '/api/v1/ops/status').status, 200)
            # the data pages do not need one
            self.assertEqual(C.session('nat').get('weekly').status, 200)
        finally:
            C.stop_web()
            C.start_web(upkeep=True)


class Boundaries(unittest.TestCase):
    def test_boundaries_make_a_choropleth(self):
        """refdata load --boundaries: the district's polygon replaces its circle."""
        path = os.path.join(C.tmp, 'districts.geojson')
        poly = [[[106.6, -6.8], [107.1, -6.8], [107.1, -6.3], [106.6, -6.3], [106.6, -6.8]]]
        with open(path, 'w') as f:
            json.dump({'type': 'FeatureCollection', 'features': [
                {'type': 'Feature', 'properties': {'code': '32.01', 'name': 'Bogor'},
                 'geometry': {'type': 'Polygon', 'coordinates': poly}}]}, f)
        bad = os.path.join(C.tmp, 'bad.geojson')
        with open(bad, 'w') as f:
            f.write('{"type": "FeatureCollection", "features": [{"geometry": {"type": "Pol')
        r = subprocess.run([HUB, '--pg', C.pg.conninfo, 'refdata', 'load', '--boundaries', bad],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(C.pg.psql('SELECT count(*) FROM report.area_boundary'), '0')
        C.run([HUB, '--pg', C.pg.conninfo, 'refdata', 'load', '--boundaries', path])
        C.sync_replica()
        d = {x['district']: x for x in C.session('nat').data('map_districts')}
        self.assertTrue(d['3201']['boundary'])
        self.assertEqual(d['3201']['geom']['type'], 'MultiPolygon')
        self.assertFalse(d['3202']['boundary'])
        dst = os.path.join(C.tmp, 'areas.gpkg')
        subprocess.run(['ogr2ogr', '-f', 'GPKG', dst, 'PG:%s' % C.pg.conninfo,
                        'report.district_area', '-nln', 'district_area'], check=True,
                       capture_output=True)
        with sqlite3.connect(dst) as db:
            self.assertEqual(db.execute('SELECT district, reports FROM district_area').fetchall(),
                             [('3201', 2)])
        C.pg.psql('DELETE FROM report.area_boundary')


class Streaming(unittest.TestCase):
    def test_z_large_export_streams(self):
        """30,000 rows (many pieces of 64 KiB) arrive whole, in CSV and JSON."""
        C.pg.psql("INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind,"
                  " village, animals, event_date) SELECT 'bulk' || i, 'n', 1, now(), now(),"
                  " 'B' || i, 'U', '5101011001', '[{\"species\": \"SP\", \"sick\": 1}]',"
                  " current_date - 150 FROM generate_series(1, 30000) i")
        C.sync_replica()
        s = C.session('nat')
        r = s.get('cases', area='51', format='csv')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.getheader('Transfer-Encoding'), 'chunked')
        self.assertEqual(len(r.body.decode('utf-8-sig').splitlines()), 1 + 30001)
        self.assertEqual(len(s.data('cases', area='51')), 30001)

    def test_z_client_gone_mid_export(self):
        """A client that reads a little of a big export and hangs up: the
        server cancels the query, frees everything (ASan) and answers on."""
        import socket
        import ssl
        s = C.session('nat')
        for _ in range(3):
            raw = socket.create_connection(('127.0.0.1', C.port))
            tls = s.ctx.wrap_socket(raw, server_hostname='127.0.0.1')
            tls.sendall(b'GET /api/v1/data/cases?area=51&format=csv HTTP/1.1\r\n'
                        b'Host: x\r\nCookie: ' + s.cookie.encode() + b'\r\n\r\n')
            self.assertIn(b'200 OK', tls.recv(4096))
            tls.close()
        self.assertEqual([c['id'] for c in s.data('cases', area='51', code='KBG')], ['c3'])


if __name__ == '__main__':
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
