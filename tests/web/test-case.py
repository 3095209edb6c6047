#!/usr/bin/env python3
"""test-case.py - the case page's API and the work queues against the real
daemon on port 0: a case with its follow-ups and SMS, the queues' rules
(a P case without any follow-up waits; a case of 14 days or more without
an outcome; refused changes) with the district's target from the config,
sending a refused record again (a new outbox number, once), and the
refusals (no ref, unknown ref, nothing to resend, a viewer).

usage: test-case.py NODE_EXE"""
import datetime
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
VET = ('081211112222', 'sandi-dokter-hewan')
VIEWER = ('081233334444', 'sandi-pengamat')
VILLAGE = '3201011001'


def vet_node():
    """A fresh store with one district vet who has a web password."""
    node = nodetest.Node(EXE)
    r = node.run('officer', 'add', '--name', 'Drh Sari', '--phone', VET[0], '--role', 'vet',
                 '--password-stdin', input=VET[1] + '\n')
    assert r.returncode == 0, r.stderr
    return node


WIB = datetime.timezone(datetime.timedelta(hours=7))   # the test district (3201) keeps WIB


def days_ago(n):
    # the node counts days in its district's zone: between 17:00 and 24:00
    # UTC the machine's date is a day behind Bogor's
    today = datetime.datetime.now(WIB).date()
    return (today - datetime.timedelta(days=n)).isoformat()


class Case(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = nodetest.Node(EXE)
        for name, (phone, pw), role in [('Drh Sari', VET, 'vet'), ('Dewi Lihat', VIEWER, 'viewer')]:
            r = cls.node.run('officer', 'add', '--name', name, '--phone', phone, '--role', role,
                             '--village', VILLAGE, '--password-stdin', input=pw + '\n')
            assert r.returncode == 0, r.stderr
        conf = os.path.join(cls.node.tmp, 'node.ini')
        with open(conf, 'w') as fp:
            fp.write('[web]\nresponse_target_h = 6\n')
        cls.daemon = nodetest.Daemon(cls.node, conf=conf)
        cls.vet = nodetest.Client(cls.daemon.port)
        cls.viewer = nodetest.Client(cls.daemon.port)
        assert cls.vet.login(*VET)[0] == 200
        assert cls.viewer.login(*VIEWER)[0] == 200

    @classmethod
    def tearDownClass(cls):
        assert cls.daemon.stop() == 0

    def write(self, query, args=()):
        con = sqlite3.connect(self.node.db, timeout=30)
        try:
            con.execute(query, args)
            con.commit()
        finally:
            con.close()

    def report(self, **kw):
        body = {'kind': 'P', 'village': VILLAGE, 'syndrome': 'MMD', 'event_date': days_ago(0),
                'animals': [{'species': 'SP', 'dead': 2}]}
        body.update(kw)
        body = {k: v for k, v in body.items() if v is not None}
        st, j = self.vet.post('/api/v1/reports', body)
        self.assertEqual(st, 201, j)
        return j['ref']

    def queues(self):
        st, j = self.vet.get('/api/v1/queues')
        self.assertEqual(st, 200, j)
        return j

    def refs(self, queue):
        return [r['ref'] for r in self.queues()[queue]['rows']]

    def test_case_with_followups(self):
        ref = self.report(note='kandang dekat sungai')
        st, j = self.vet.post('/api/v1/followups', {'case_ref': ref, 'event_date': days_ago(0),
                                                    'animals': [{'species': 'SP', 'sick': 1,
                                                                 'dead': 2, 'culled': 0,
                                                                 'at_risk': 9}]})
        self.assertEqual(st, 201, j)
        st, j = self.vet.post('/api/v1/followups', {'case_ref': ref, 'outcome': 'SB',
                                                    'event_date': days_ago(0)})
        self.assertEqual(st, 201, j)
        st, c = self.viewer.get('/api/v1/case?ref=' + ref)
        self.assertEqual(st, 200, c)
        rep = c['report']
        self.assertEqual((rep['ref'], rep['kind'], rep['syndrome'], rep['village']),
                         (ref, 'P', 'MMD', VILLAGE))
        self.assertEqual(rep['village_name'], 'Pondok Rajeg')
        self.assertEqual(rep['kecamatan'], '320101')
        self.assertEqual(rep['kecamatan_name'], 'Cibinong')
        self.assertEqual(rep['note'], 'kandang dekat sungai')
        self.assertEqual(rep['sync'], 'queued')
        self.assertEqual(rep['origin'], self.node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0])
        self.assertEqual([f.get('outcome') for f in c['followups']], [None, 'SB'])
        self.assertEqual(c['followups'][0]['animals'][0]['at_risk'], 9)
        self.assertEqual(c['followups'][0]['reporter_name'], 'Drh Sari')
        self.assertEqual(c['sms'], [])
        # a central correction shows as such: the row's origin is the hub's
        self.write("UPDATE case_followup SET origin = 'central' WHERE outcome = 'SB' AND case_id = "
                   "(SELECT id FROM case_report WHERE ref = ?)", (ref,))
        st, c = self.vet.get('/api/v1/case?ref=' + ref)
        self.assertEqual(c['followups'][1]['origin'], 'central')

    def test_empty_village_is_required(self):
        st, j = self.vet.post('/api/v1/reports', {'kind': 'U', 'village': '', 'signs': ['DIA'],
                                                  'event_date': days_ago(0),
                                                  'animals': [{'species': 'SP', 'sick': 1}]})
        self.assertEqual((st, j['error']['code'], j['error']['field']), (422, 'required', 'village'))

    def test_a_draft_is_stored_once_per_key(self):
        body = {'kind': 'U', 'village': VILLAGE, 'signs': ['DIA'], 'event_date': days_ago(0),
                'animals': [{'species': 'SP', 'sick': 1}], 'note': 'draf tablet'}
        key = {'Idempotency-Key': 'draft-0f4c2a9e-1111-4d3b-9a77-5e0c1b2d3e4f'}

        def post(path, b, headers):
            st, _, raw = self.vet.request('POST', path, b, headers)
            return st, json.loads(raw)
        before = self.node.sql("SELECT count(*) FROM case_report WHERE note = 'draf tablet'")[0][0]
        st, first = post('/api/v1/reports', body, key)
        self.assertEqual(st, 201, first)
        st, again = post('/api/v1/reports', body, key)     # the answer was lost: sent again
        self.assertEqual(st, 200, again)
        self.assertEqual((again['ref'], again['id'], again['again']), (first['ref'], first['id'], True))
        self.assertEqual(self.node.sql("SELECT count(*) FROM case_report WHERE note = 'draf tablet'")[0][0],
                         before + 1)
        st, j = post('/api/v1/followups', {'case_ref': first['ref'], 'outcome': 'SB',
                                           'event_date': days_ago(0)}, key)
        self.assertEqual((st, j['error']['code']), (409, 'key_reused'))
        for bad in ('short', 'x' * 65, 'bad key!'):
            st, j = post('/api/v1/reports', body, {'Idempotency-Key': bad})
            self.assertEqual((st, j['error']['code']), (400, 'idempotency_key'), bad)
        st, j = post('/api/v1/reports', body, {})           # no key: a new record each time
        self.assertEqual(st, 201)
        self.assertNotEqual(j['ref'], first['ref'])

    def test_every_refusal_of_a_record_at_once(self):
        before = self.node.counts()
        st, j = self.vet.post('/api/v1/reports', {
            'kind': 'P', 'village': '', 'event_date': '2999-01-01', 'lat': 95.0, 'lon': 106.8,
            'animals': [{'species': 'XX', 'sick': 1}], 'note': 'ok'})
        self.assertEqual(st, 422, j)
        got = [(e['field'], e['code']) for e in j['errors']]
        self.assertEqual(got, [('village', 'required'), ('syndrome', 'required'),
                               ('animals[0].species', 'unknown_code'), ('event_date', 'date_future'),
                               ('lat', 'point')])
        self.assertEqual((j['error']['field'], j['error']['code']), ('village', 'required'))
        st, j = self.vet.post('/api/v1/vaccinations', {
            'program': 'AI-1', 'village': '3202011001', 'event_date': 'kemarin',
            'animals': [{'species': 'AY', 'primary': -1}]})
        self.assertEqual(st, 422, j)
        fields = sorted(e['field'].split('[')[0] for e in j['errors'])
        self.assertEqual(fields, ['animals', 'event_date', 'village'])
        # one refusal: as before, no "errors"
        st, j = self.vet.post('/api/v1/reports', {'kind': 'U', 'village': VILLAGE, 'signs': ['ZZZ'],
                                                  'event_date': days_ago(0),
                                                  'animals': [{'species': 'SP', 'sick': 1}]})
        self.assertEqual((st, j['error']['field']), (422, 'signs[0]'))
        self.assertNotIn('errors', j)
        self.assertEqual(self.node.counts(), before)

    def test_case_refusals(self):
        st, j = self.vet.get('/api/v1/case')
        self.assertEqual((st, j['error']['code']), (400, 'ref'))
        st, j = self.vet.get('/api/v1/case?ref=3201-999999')
        self.assertEqual((st, j['error']['code']), (404, 'not_found'))
        st, _, _ = nodetest.Client(self.daemon.port).request('GET', '/api/v1/case?ref=x')
        self.assertEqual(st, 401)

    def test_awaiting_response(self):
        ref = self.report()
        q = self.queues()
        self.assertEqual(q['target_h'], 6)                     # from the config file
        row = [r for r in q['awaiting']['rows'] if r['ref'] == ref][0]
        self.assertEqual(row['age_h'], 0)
        self.write("UPDATE case_report SET created_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', "
                   "'-7 hours') WHERE ref = ?", (ref,))
        row = [r for r in self.queues()['awaiting']['rows'] if r['ref'] == ref][0]
        self.assertEqual(row['age_h'], 7)
        u = self.report(kind='U', syndrome=None, signs=['DIA'])
        self.assertNotIn(u, self.refs('awaiting'))             # only P cases wait
        st, j = self.vet.post('/api/v1/followups', {'case_ref': ref, 'event_date': days_ago(0),
                                                    'animals': [{'species': 'SP', 'dead': 2}]})
        self.assertEqual(st, 201, j)
        self.assertNotIn(ref, self.refs('awaiting'))           # answered

    def test_no_outcome_after_14_days(self):
        old = self.report(kind='U', syndrome=None, signs=['DIA'], event_date=days_ago(15))
        edge = self.report(kind='U', syndrome=None, signs=['DIA'], event_date=days_ago(14))
        young = self.report(kind='U', syndrome=None, signs=['DIA'], event_date=days_ago(13))
        refs = self.refs('no_outcome')
        self.assertIn(old, refs)
        self.assertIn(edge, refs)
        self.assertNotIn(young, refs)
        row = [r for r in self.queues()['no_outcome']['rows'] if r['ref'] == old][0]
        self.assertEqual(row['age_d'], 15)
        # counts without an outcome do not end the case; an outcome does
        self.vet.post('/api/v1/followups', {'case_ref': old, 'event_date': days_ago(0),
                                            'animals': [{'species': 'SP', 'sick': 1}]})
        self.assertIn(old, self.refs('no_outcome'))
        self.vet.post('/api/v1/followups', {'case_ref': old, 'event_date': days_ago(0),
                                            'outcome': 'MT'})
        self.assertNotIn(old, self.refs('no_outcome'))

    def test_rejected_and_resend(self):
        ref = self.report()
        rid = self.node.sql('SELECT id FROM case_report WHERE ref = ?', (ref,))[0][0]
        self.write("UPDATE outbox SET state = 2, error = 'unknown village at the hub' "
                   "WHERE row_id = ?", (rid,))
        q = self.queues()['rejected']
        row = [r for r in q['rows'] if r['row_id'] == rid][0]
        self.assertEqual((row['ref'], row['tbl'], row['error']),
                         (ref, 'case_report', 'unknown village at the hub'))
        self.assertGreaterEqual(q['count'], 1)
        st, j = self.viewer.post('/api/v1/resend', {'row_id': rid})
        self.assertEqual((st, j['error']['code']), (403, 'forbidden'))
        st, j = self.vet.post('/api/v1/resend', {})
        self.assertEqual(st, 422)
        old_seq = self.node.sql('SELECT seq FROM outbox WHERE row_id = ?', (rid,))[0][0]
        st, j = self.vet.post('/api/v1/resend', {'row_id': rid})
        self.assertEqual((st, j), (200, {'queued': 1}))
        rows = self.node.sql('SELECT seq, state, error FROM outbox WHERE row_id = ?', (rid,))
        self.assertEqual(len(rows), 1)
        self.assertGreater(rows[0][0], old_seq)              # a new number: the hub skips old ones
        self.assertEqual(rows[0][1:], (0, None))
        self.assertNotIn(rid, [r['row_id'] for r in self.queues()['rejected']['rows']])
        st, j = self.vet.post('/api/v1/resend', {'row_id': rid})   # nothing refused any more
        self.assertEqual((st, j['error']['code']), (404, 'not_found'))
        st, c = self.vet.get('/api/v1/case?ref=' + ref)
        self.assertEqual(c['report']['sync'], 'queued')

    def test_rejected_corrected(self):
        """A refused case report corrected: through the validator (every
        refusal at once, store unchanged), then its new version queued in
        place of the refusal, under the same reference."""
        ref = self.report()
        rid, hlc = self.node.sql('SELECT id, hlc FROM case_report WHERE ref = ?', (ref,))[0]
        self.write("UPDATE outbox SET state = 2, error = 'unknown village 3201011001' "
                   "WHERE row_id = ?", (rid,))
        fixed = {'kind': 'P', 'village': '3201011002', 'syndrome': 'MMD',
                 'event_date': days_ago(1), 'animals': [{'species': 'SP', 'dead': 3}],
                 'note': 'desa diperbaiki'}
        st, j = self.viewer.post('/api/v1/correct', {'row_id': rid, 'record': fixed})
        self.assertEqual((st, j['error']['code']), (403, 'forbidden'))
        before = self.node.counts()
        st, j = self.vet.post('/api/v1/correct', {'row_id': rid, 'record': dict(
            fixed, village='', animals=[{'species': 'XX', 'dead': 1}])})
        self.assertEqual(st, 422, j)
        self.assertEqual(sorted(e['field'] for e in j['errors']),
                         ['animals[0].species', 'village'])
        self.assertEqual(self.node.counts(), before)
        st, j = self.vet.post('/api/v1/correct', {'row_id': 'no-such-row', 'record': fixed})
        self.assertEqual((st, j['error']['code']), (404, 'not_found'))
        st, j = self.vet.post('/api/v1/correct', {'row_id': rid, 'record': fixed})
        self.assertEqual((st, j), (200, {'queued': 1, 'ref': ref}))
        row = self.node.sql('SELECT village, event_date, animals, note, hlc, ref FROM case_report'
                            ' WHERE id = ?', (rid,))[0]
        self.assertEqual(row[:2], ('3201011002', days_ago(1)))
        self.assertEqual(json.loads(row[2])[0]['dead'], 3)
        self.assertEqual(row[3], 'desa diperbaiki')
        self.assertGreater(row[4], hlc)                      # a new version
        self.assertEqual(row[5], ref)
        self.assertEqual(self.node.sql('SELECT state, hlc FROM outbox WHERE row_id = ?', (rid,)),
                         [(0, row[4])])                      # queued once, the new version
        self.assertNotIn(rid, [r['row_id'] for r in self.queues()['rejected']['rows']])
        st, j = self.vet.post('/api/v1/correct', {'row_id': rid, 'record': fixed})
        self.assertEqual((st, j['error']['code']), (404, 'not_found'))


def monday(d):
    return d - datetime.timedelta(days=d.weekday())


class Trends(unittest.TestCase):
    """The 12 weeks of the dashboard on a fresh store with known reports.
    (Dates are the UTC date's; near midnight the district's date may be a
    day ahead, so the reports sit mid-week.)"""

    def test_curves_kecamatan_and_silent_villages(self):
        node = vet_node()
        with nodetest.Daemon(node) as d:
            c = nodetest.Client(d.port)
            self.assertEqual(c.login(*VET)[0], 200)
            st, now = c.get('/api/v1/trends')
            this_monday = datetime.date.fromisoformat(now['weeks'][-1])
            mid = lambda weeks_ago: (this_monday - datetime.timedelta(weeks=weeks_ago) +
                                     datetime.timedelta(days=2)).isoformat()
            today = datetime.date.fromisoformat(now['today'])

            def add(village, date, kind='U', **kw):
                body = {'kind': kind, 'village': village, 'event_date': date,
                        'animals': kw.pop('animals', [{'species': 'SP', 'sick': 1}])}
                body.update(kw)
                if kind == 'U' and 'signs' not in body:
                    body['signs'] = ['DIA']
                st, j = c.post('/api/v1/reports', body)
                self.assertEqual(st, 201, j)

            # a village that reported in weeks 1, 2 and 3 ago and not this week: silent
            for w in (1, 2, 3):
                add('3201011002', mid(w))
            # one that reported in 2 weeks only: not "usually"
            for w in (1, 2):
                add('3201011003', mid(w))
            # one that usually reports and did this week: not silent
            for w in (1, 2, 3):
                add('3201011001', mid(w))
            add('3201011001', today.isoformat(), kind='P', syndrome='MMD',
                animals=[{'species': 'KB', 'dead': 3}])
            add('3201011001', today.isoformat(), animals=[{'species': 'SP', 'sick': 2},
                                                          {'species': 'KB', 'sick': 1}])
            add('3201011001', mid(13))                      # outside the 12 weeks
            st, t = c.get('/api/v1/trends')
        self.assertEqual(st, 200, t)
        self.assertEqual(len(t['weeks']), 12)
        self.assertEqual(t['weeks'][-1], this_monday.isoformat())
        sp = {s['code']: s['counts'] for s in t['by_species']}
        self.assertEqual(sp['SP'][-4:], [2, 3, 3, 1])       # 3 weeks ago ... this week
        self.assertEqual(sp['KB'][-1], 2)
        self.assertEqual(sum(sp['SP']), 9)                   # not the report of 13 weeks ago
        syn = {s['code']: s['counts'] for s in t['by_syndrome']}
        self.assertEqual(syn, {'MMD': [0] * 11 + [1]})
        sign = {s['code']: s['counts'] for s in t['by_sign']}
        self.assertEqual(sign['DIA'][-4:], [2, 3, 3, 1])
        kec = {k['code']: k for k in t['by_kecamatan']}
        self.assertEqual((kec['320101']['name'], kec['320101']['this_week'], kec['320101']['prev4'],
                          kec['320101']['weeks12']), ('Cibinong', 2, 8, 10))
        silent = [v['village'] for v in t['silent']]
        self.assertEqual(silent, ['3201011002'])
        self.assertEqual(t['silent'][0]['weeks_reported'], 3)
        self.assertEqual(t['totals']['this_week'], 2)
        self.assertEqual(t['totals']['last_week'], 3)
        self.assertEqual(t['totals']['p_this_week'], 1)
        self.assertEqual([p['syndrome'] for p in t['p_cases']], ['MMD'])
        self.assertEqual(t['p_cases'][0]['responded'], 0)
        self.assertEqual(t['tz'], 'WIB')
        self.kept_counts_agree(node)

    RECOUNT = """
        SELECT week, dim, code, count(*) FROM (
          SELECT date(event_date, '-6 days', 'weekday 1') AS week, 'kind' AS dim, kind AS code
            FROM case_report WHERE deleted = 0
          UNION ALL SELECT date(event_date, '-6 days', 'weekday 1'), 'village', village
            FROM case_report WHERE deleted = 0
          UNION ALL SELECT date(event_date, '-6 days', 'weekday 1'), 'syndrome', syndrome
            FROM case_report WHERE deleted = 0 AND kind = 'P'
          UNION ALL SELECT date(c.event_date, '-6 days', 'weekday 1'), 'species',
                 json_extract(j.value, '$.species') FROM case_report c, json_each(c.animals) j
           WHERE c.deleted = 0
          UNION ALL SELECT date(c.event_date, '-6 days', 'weekday 1'), 'sign', j.value
            FROM case_report c, json_each(c.signs) j WHERE c.deleted = 0 AND c.kind = 'U')
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""

    def kept_counts_agree(self, node):
        """case_week and outbox_count (kept by triggers) equal a count of the
        rows, after inserts, then after an edit, a deletion and a refusal."""
        def check():
            kept = node.sql('SELECT week, dim, code, n FROM case_week WHERE n != 0'
                            ' ORDER BY 1, 2, 3')
            self.assertEqual(kept, node.sql(self.RECOUNT))
            self.assertEqual(
                node.sql("SELECT week, code, last FROM case_week WHERE dim = 'village' AND n > 0"
                         " ORDER BY 1, 2"),
                node.sql("SELECT date(event_date, '-6 days', 'weekday 1'), village,"
                         " max(event_date) FROM case_report WHERE deleted = 0"
                         " GROUP BY 1, 2 ORDER BY 1, 2"))
            self.assertEqual(node.sql('SELECT state, n FROM outbox_count WHERE n != 0'
                                      ' ORDER BY 1'),
                             node.sql('SELECT state, count(*) FROM outbox GROUP BY 1 ORDER BY 1'))
        check()
        self.assertGreater(node.sql("SELECT sum(n) FROM case_week WHERE dim = 'kind'")[0][0], 0)
        con = sqlite3.connect(node.db)
        ids = [r[0] for r in con.execute('SELECT id FROM case_report ORDER BY hlc')]
        con.execute("UPDATE case_report SET village = '3201011003', event_date = date('now'),"
                    " animals = '[{\"species\":\"KB\",\"sick\":1},{\"species\":\"KB\"}]'"
                    " WHERE id = ?", (ids[0],))
        con.execute("UPDATE case_report SET kind = 'P', syndrome = 'MMD', signs = '[]'"
                    " WHERE id = ?", (ids[1],))
        con.execute('UPDATE case_report SET deleted = 1 WHERE id = ?', (ids[2],))
        con.commit()
        check()
        # a report moved into another week and back: that week's last report
        # is the one left, not the one that went
        rows = con.execute("SELECT id, event_date FROM case_report WHERE deleted = 0"
                           " AND village = '3201011001' ORDER BY event_date").fetchall()
        two, one = rows[2], rows[3]                    # 2 weeks ago, a week ago (mid-week)
        con.execute("UPDATE case_report SET event_date = date(?, '+1 day') WHERE id = ?",
                    (one[1], two[0]))
        con.commit()
        check()
        con.execute('UPDATE case_report SET event_date = ? WHERE id = ?', (two[1], two[0]))
        con.execute('UPDATE outbox SET state = 2, error = ? WHERE seq = (SELECT min(seq)'
                    ' FROM outbox)', ('refused',))
        con.execute('DELETE FROM outbox WHERE seq = (SELECT max(seq) FROM outbox)')
        con.commit()
        con.close()
        check()


class Map(unittest.TestCase):
    """Reports without GPS on the map: at their village's point (the mean of
    its located reports), else their kecamatan's, else counted as unplaced."""

    def test_reports_without_gps_are_placed(self):
        node = vet_node()
        with nodetest.Daemon(node) as d:
            c = nodetest.Client(d.port)
            self.assertEqual(c.login(*VET)[0], 200)
            refs = {}
            for name, village, point in [('a1', '3201011001', (-6.40, 106.80)),
                                         ('a2', '3201011001', (-6.42, 106.84)),
                                         ('a3', '3201011001', None),       # village point
                                         ('b1', '3201011002', None),       # kecamatan point
                                         ('z1', '3201022001', None)]:      # nothing known
                body = {'kind': 'U', 'village': village, 'signs': ['DIA'], 'event_date': days_ago(1),
                        'animals': [{'species': 'SP', 'sick': 1}]}
                if point:
                    body['lat'], body['lon'] = point
                st, j = c.post('/api/v1/reports', body)
                self.assertEqual(st, 201, j)
                refs[j['ref']] = name
            st, m = c.get('/api/v1/map?days=30')
        self.assertEqual(st, 200, m)
        got = {refs[f['properties']['ref']]: (f['properties']['placed'],
               [round(x, 4) for x in f['geometry']['coordinates']]) for f in m['features']}
        self.assertEqual(got['a1'], ('gps', [106.8, -6.4]))
        self.assertEqual(got['a3'], ('village', [106.82, -6.41]))
        self.assertEqual(got['b1'], ('kecamatan', [106.82, -6.41]))
        self.assertNotIn('z1', got)
        self.assertEqual(m['unplaced'], 1)
        self.assertEqual([(a['code'], a['name']) for a in m['areas']], [('320101', 'Cibinong')])

    def test_a_gazetteer_places_villages(self):
        node = vet_node()
        csv = os.path.join(node.tmp, 'points.csv')
        with open(csv, 'w') as fp:
            fp.write('code,lat,lon\n32.01.01.1002,-6.47,106.85\n32.01.02,-6.5,106.9\n'
                     '3202011001,-6.9,106.9\n3201011003,95,106\n3201011004,x,106\n3201011005\n')
        r = node.run('points', csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {'loaded': 2, 'refused': 4})
        for why in ('line 4: not a kecamatan or village of this district: 3202011001',
                    'line 5: the point is not in Indonesia', 'line 6: latitude is not a number',
                    'line 7: want code,lat,lon'):
            self.assertIn(why, r.stderr)
        with nodetest.Daemon(node) as d:
            c = nodetest.Client(d.port)
            self.assertEqual(c.login(*VET)[0], 200)
            for village, point in [('3201011002', (-6.40, 106.80)), ('3201011002', None),
                                   ('3201022002', None)]:
                body = {'kind': 'U', 'village': village, 'signs': ['DIA'], 'event_date': days_ago(1),
                        'animals': [{'species': 'SP', 'sick': 1}]}
                if point:
                    body['lat'], body['lon'] = point
                self.assertEqual(c.post('/api/v1/reports', body)[0], 201)
            st, m = c.get('/api/v1/map?days=30')
        got = sorted((f['properties']['placed'], [round(x, 3) for x in f['geometry']['coordinates']])
                     for f in m['features'])
        # the gazetteer's point wins over the mean of the village's located reports
        self.assertEqual(got, [('gps', [106.8, -6.4]), ('kecamatan', [106.9, -6.5]),
                               ('village', [106.85, -6.47])])


class Assets(unittest.TestCase):
    """Pages and libraries gzip-compressed to browsers that take it, revalidated
    by ETag; long JSON answers compressed too; kept answers follow the store."""

    def test_gzip_etag_and_kept_answers(self):
        import gzip
        node = vet_node()
        with nodetest.Daemon(node) as d:
            c = nodetest.Client(d.port)
            self.assertEqual(c.login(*VET)[0], 200)
            for name, kind in [('app.js', 'text/javascript'), ('chart.min.js', 'text/javascript'),
                               ('leaflet.min.js', 'text/javascript'), ('sw.js', 'text/javascript'),
                               ('manifest.webmanifest', 'application/manifest+json')]:
                st, h, plain = c.request('GET', '/' + name)
                self.assertEqual((st, h['content-type'].split(';')[0]), (200, kind), name)
                self.assertNotIn('content-encoding', h)
                st, hz, z = c.request('GET', '/' + name, headers={'Accept-Encoding': 'gzip, br'})
                self.assertEqual((st, hz.get('content-encoding')), (200, 'gzip'), name)
                self.assertEqual(gzip.decompress(z), plain, name)
                self.assertLess(len(z), len(plain))
                st, h304, body = c.request('GET', '/' + name, headers={'If-None-Match': h['etag']})
                self.assertEqual((st, body), (304, b''), name)
                st, _, _ = c.request('GET', '/' + name, headers={'Accept-Encoding': 'gzip;q=0'})
            st, h, _ = c.request('GET', '/app.js', headers={'Accept-Encoding': 'gzip;q=0'})
            self.assertNotIn('content-encoding', h)
            for i in range(30):                         # a map answer over 4 KB
                st, j = c.post('/api/v1/reports', {
                    'kind': 'U', 'village': VILLAGE, 'signs': ['DIA'], 'event_date': days_ago(1),
                    'lat': -6.4 - i / 1000, 'lon': 106.8, 'animals': [{'species': 'SP', 'sick': 1}]})
                self.assertEqual(st, 201, j)
            st, h, z = c.request('GET', '/api/v1/map', headers={'Accept-Encoding': 'gzip'})
            self.assertEqual((st, h.get('content-encoding')), (200, 'gzip'))
            first = json.loads(gzip.decompress(z))
            self.assertEqual(len(first['features']), 30)
            st, h, z2 = c.request('GET', '/api/v1/map', headers={'Accept-Encoding': 'gzip'})
            self.assertEqual(gzip.decompress(z2), gzip.decompress(z))     # the kept answer
            st, _, raw = c.request('GET', '/api/v1/map')                  # and without gzip
            self.assertEqual(json.loads(raw), first)
            # another process writes: the next answer counts again
            con = sqlite3.connect(node.db, timeout=30)
            con.execute("UPDATE case_report SET deleted = 1 WHERE ref = (SELECT max(ref) FROM case_report)")
            con.commit()
            con.close()
            st, _, raw = c.request('GET', '/api/v1/map')
            self.assertEqual(len(json.loads(raw)['features']), 29)


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
