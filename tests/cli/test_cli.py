#!/usr/bin/env python3
"""Command-line tests: the real sikhnas-node on real SQLite files.
usage: test_cli.py PATH/TO/sikhnas-node"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
GOOD = {"kind": "U", "village": "3201011001", "signs": ["KBG"],
        "animals": [{"species": "SP", "sick": 2, "dead": 0, "at_risk": 10}],
        "event_date": "2026-11-20", "lat": -6.59, "lon": 106.80, "note": "sapi kembung"}


def with_(base, **kw):
    d = json.loads(json.dumps(base))
    for k, v in kw.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


class Init(unittest.TestCase):
    def test_init_prints_what_it_loaded(self):
        n = nodetest.Node(EXE, init=False)
        r = n.run('init', '--district', '32.01', '--areas', nodetest.AREAS)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('Kabupaten Bogor', r.stdout)
        self.assertIn('40 sub-districts', r.stdout)
        self.assertIn('villages', r.stdout)
        s = n.status()
        self.assertEqual(s['district'], '3201')
        self.assertEqual(s['records'], 0)
        self.assertEqual(s['outbox'], 0)
        self.assertGreaterEqual(s['schema_version'], 1)
        self.assertEqual(s['villages'], len(nodetest.villages('3201')))
        self.assertEqual(n.sql("PRAGMA journal_mode")[0][0], 'wal')

    def test_init_again_is_idempotent(self):
        n = nodetest.Node(EXE)
        before = n.sql('SELECT count(*) FROM area')[0][0]
        node_id = n.status()['node_id']
        r = n.run('init', '--district', '3201', '--areas', nodetest.AREAS)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(n.sql('SELECT count(*) FROM area')[0][0], before)
        self.assertEqual(n.status()['node_id'], node_id)

    def test_init_other_district_refused(self):
        n = nodetest.Node(EXE)
        r = n.run('init', '--district', '3202', '--areas', nodetest.AREAS)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('belongs to district 3201', r.stderr)
        self.assertEqual(n.status()['district'], '3201')

    def test_init_bad_codes(self):
        n = nodetest.Node(EXE, init=False)
        for code in ['32', '32.1', 'abcd', '32.01.01']:
            r = n.run('init', '--district', code, '--areas', nodetest.AREAS)
            self.assertEqual(r.returncode, 65, code)
            self.assertIn('not a district code', r.stderr)
        self.assertFalse(os.path.exists(n.db))
        r = n.run('init', '--district', '9999', '--areas', nodetest.AREAS)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('not in the area data', r.stderr)

    def test_commands_before_init(self):
        n = nodetest.Node(EXE, init=False)
        r = n.run('status', '--json')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('init --district', r.stderr)
        self.assertFalse(os.path.exists(n.db))

    def test_commands_on_a_store_without_district(self):
        # a failed init leaves a store with no district: every command that
        # needs one refuses it, once (sms process closed it twice, a crash)
        n = nodetest.Node(EXE, init=False)
        r = n.run('init', '--district', '9999', '--areas', nodetest.AREAS)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(os.path.exists(n.db))
        spool = os.path.join(n.tmp, 'spool')
        os.makedirs(os.path.join(spool, 'incoming'))
        ca = os.path.join(n.tmp, 'ca.pem')      # read before the store is opened
        with open(ca, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\n')
        for args in [('status',), ('report', 'list'), ('officer', 'list'),
                     ('sms', 'process', '--spool', spool), ('sync', '--hub', 'https://x:1'),
                     ('enroll', '--hub', 'https://x:1', '--token', 't', '--ca', ca)]:
            r = n.run(*args)
            self.assertEqual(r.returncode, 1, '%s: %d %s' % (args, r.returncode, r.stderr))
            self.assertIn('has no district yet', r.stderr, args)

    def test_usage(self):
        n = nodetest.Node(EXE, init=False)
        self.assertEqual(n.run('frobnicate').returncode, 2)
        self.assertEqual(n.run('report').returncode, 2)
        r = n.run('--help')
        self.assertEqual(r.returncode, 0)
        self.assertIn('report add', r.stdout)


class Reports(unittest.TestCase):
    def setUp(self):
        self.n = nodetest.Node(EXE)

    def test_add_and_list(self):
        r = self.n.add_report(GOOD)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertRegex(out['id'], r'^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')
        self.assertEqual(out['ref'], '3201-000001')
        r2 = self.n.add_report(with_(GOOD, kind='P', signs=None, syndrome='mmd',
                                     village='32.01.01.1002'))
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(json.loads(r2.stdout)['ref'], '3201-000002')

        lst = json.loads(self.n.run('report', 'list', '--json').stdout)
        self.assertEqual([x['ref'] for x in lst], ['3201-000002', '3201-000001'])
        first = lst[1]
        self.assertEqual(first['id'], out['id'])
        self.assertEqual(first['sync'], 'queued')
        self.assertEqual(first['animals'], GOOD['animals'])
        self.assertAlmostEqual(first['lat'], -6.59)
        self.assertEqual(lst[0]['syndrome'], 'MMD')
        text = self.n.run('report', 'list').stdout
        self.assertIn('Pondok Rajeg', text)
        self.assertIn('queued', text)

        s = self.n.status()
        self.assertEqual(s['records'], 2)
        self.assertEqual(s['outbox'], 2)
        rows = self.n.sql('SELECT tbl, row_id FROM outbox ORDER BY seq')
        self.assertEqual(rows, [('case_report', out['id']),
                                ('case_report', json.loads(r2.stdout)['id'])])

    def test_list_options_in_any_order(self):
        for _ in range(3):
            self.assertEqual(self.n.add_report(GOOD).returncode, 0)
        for args in (['report', 'list', '--json', '--limit', '2'],
                     ['report', '--json', 'list', '--limit', '2'],
                     ['report', '--limit', '2', '--json', 'list']):
            r = self.n.run(*args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertEqual(len(json.loads(r.stdout)), 2, args)
        self.assertEqual(self.n.run('report', 'list', 'extra').returncode, 2)
        r = self.n.run('officer', '--json', 'list')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])

    def test_bad_input_changes_nothing(self):
        self.assertEqual(self.n.add_report(GOOD).returncode, 0)
        cases = [
            ('village', with_(GOOD, village='3202011001'), 'not a village of this district'),
            ('village', with_(GOOD, village='3201999999'), 'not a known code'),
            ('village', with_(GOOD, village=None), 'is required'),
            ('signs[0]', with_(GOOD, signs=['XYZ']), 'not a known code'),
            ('signs', with_(GOOD, signs=[]), 'must not be empty'),
            ('animals[0].species', with_(GOOD, animals=[{'species': 'ZZ', 'sick': 1}]), 'not a known code'),
            ('animals[0].sick', with_(GOOD, animals=[{'species': 'SP', 'sick': -1}]), 'whole number'),
            ('animals[0].sick', with_(GOOD, animals=[{'species': 'SP', 'sick': 1.5}]), 'whole number'),
            ('animals[0].sick', with_(GOOD, animals=[{'species': 'SP', 'sick': '3'}]), 'whole number'),
            ('animals[0]', with_(GOOD, animals=[{'species': 'SP', 'sick': 500, 'at_risk': 1}]),
             'sick + dead must not be more than at risk (500 > 1)'),
            ('animals[1]', with_(GOOD, animals=[{'species': 'SP', 'sick': 1},
                                                {'species': 'KB', 'sick': 0, 'dead': 0}]),
             'sick + dead must be 1 or more'),
            ('event_date', with_(GOOD, event_date='2099-01-01'), 'future'),
            ('event_date', with_(GOOD, event_date='1999-12-31'), 'before 2000'),
            ('event_date', with_(GOOD, event_date='20/11/2026'), 'YYYY-MM-DD'),
            ('lat', with_(GOOD, lat=48.8, lon=2.3), 'within Indonesia'),
            ('lon', with_(GOOD, lon=None), 'within Indonesia'),
            ('colour', with_(GOOD, colour='red'), 'not a known field'),
            ('note', with_(GOOD, note='x' * 1001), 'too long'),
            ('note', with_(GOOD, note='sapi\x00 mati 40'), 'NUL'),   # \u0000 would cut it
            ('animals', with_(GOOD, animals=[{'species': 'SP\x00X', 'sick': 1}]), 'NUL'),
            ('reporter', with_(GOOD, reporter='081299998888'), 'not a registered officer'),
            ('reporter', with_(GOOD, reporter='12'), 'not a valid phone'),
            ('kind', with_(GOOD, kind='X'), 'not a known code'),
            ('syndrome', with_(GOOD, syndrome='MMD'), 'cannot be given together'),
        ]
        before = self.n.counts()
        for field, report, reason in cases:
            r = self.n.add_report(report)
            self.assertEqual(r.returncode, 65, (field, r.stderr))
            self.assertIn(field + ':', r.stderr, field)
            self.assertIn(reason, r.stderr, field)
            self.assertEqual(r.stdout, '')
        for raw in ['', 'not json', '{"kind":"U"', '[1,2,3]', '{"kind":"U"}' + 'x' * 300000]:
            r = self.n.add_report(raw)
            self.assertEqual(r.returncode, 65, raw[:40])
        self.assertEqual(self.n.counts(), before)

    def test_operator_is_trusted(self):
        """The board's operator (report add, import) may write for any village of
        the district, naming any registered officer as reporter: access_check()
        limits officers on the web and by SMS, not the board's own shell
        (docs/security.md, "Node: who may write what")."""
        r = self.n.run('officer', 'add', '--name', 'Budi Pelsa', '--phone', '081234567890',
                       '--role', 'reporter', '--village', '3201011001')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.n.add_report(with_(GOOD, village='3201011002', reporter='081234567890'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.n.sql('SELECT village, reporter FROM case_report'),
                         [('3201011002', '+6281234567890')])
        r = self.n.add_report(with_(GOOD, village='3202011001'))   # the district still holds
        self.assertEqual(r.returncode, 65)

    def test_reporter_must_be_officer(self):
        r = self.n.run('officer', 'add', '--name', 'Drh. Siti Aminah', '--phone', '0812-3456-7890',
                       '--role', 'vet')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.n.add_report(with_(GOOD, reporter='+62 812 3456 7890'))
        self.assertEqual(r.returncode, 0, r.stderr)
        lst = json.loads(self.n.run('report', 'list', '--json').stdout)
        self.assertEqual(lst[0]['reporter'], '+6281234567890')


class Officers(unittest.TestCase):
    def setUp(self):
        self.n = nodetest.Node(EXE)

    def test_phone_forms_and_duplicates(self):
        r = self.n.run('officer', 'add', '--name', 'Budi', '--phone', '081234567890',
                       '--role', 'reporter', '--village', '32.01.01.1001')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['phone'], '+6281234567890')
        for same in ['+6281234567890', '6281234567890', '0812 3456 7890']:
            r = self.n.run('officer', 'add', '--name', 'Budi 2', '--phone', same, '--role', 'vet')
            self.assertEqual(r.returncode, 65, same)
            self.assertIn('already registered', r.stderr)
        lst = json.loads(self.n.run('officer', 'list', '--json').stdout)
        self.assertEqual(len(lst), 1)
        self.assertEqual(lst[0]['village'], '3201011001')
        self.assertEqual(lst[0]['district'], '3201')
        self.assertEqual(self.n.status()['outbox'], 1)   # officers sync up too

    def test_refusals(self):
        before = self.n.counts()
        for args, msg in [
            (['--name', 'A', '--phone', '0812345678901', '--role', 'boss'], 'role'),
            (['--name', 'A', '--phone', '+4915112345678', '--role', 'vet'], 'phone'),
            (['--name', 'A', '--phone', '0812345678901', '--role', 'vet', '--village', '3202011001'],
             'village'),
            (['--name', '', '--phone', '0812345678901', '--role', 'vet'], 'name'),
        ]:
            r = self.n.run('officer', 'add', *args)
            self.assertEqual(r.returncode, 65, args)
            self.assertIn(msg, r.stderr)
        self.assertEqual(self.n.run('officer', 'add', '--name', 'A').returncode, 2)
        self.assertEqual(self.n.counts(), before)


class Import(unittest.TestCase):
    def setUp(self):
        self.n = nodetest.Node(EXE)
        self.path = os.path.join(self.n.tmp, 'reports.jsonl')

    def test_good_lines_kept_bad_lines_reported(self):
        bad = nodetest.write_jsonl(self.path, 500, bad_every=37)
        r = self.n.run('import', self.path)
        self.assertEqual(r.returncode, 65, r.stderr)
        summary = json.loads(r.stdout)
        self.assertEqual(summary['lines'], 500)
        self.assertEqual(summary['rejected'], len(bad))
        self.assertEqual(summary['imported'], 500 - len(bad))
        for line in bad:
            self.assertIn('%s:%d: ' % (self.path, line), r.stderr)
        self.assertIn('not a village of this district', r.stderr)
        self.assertIn('not valid JSON', r.stderr)
        self.assertIn('animals[0]: sick + dead must not be more than at risk', r.stderr)
        with open(self.path + '.rejects.jsonl') as fp:
            rej = [json.loads(x) for x in fp]
        self.assertEqual([x['line'] for x in rej], bad)
        self.assertEqual(self.n.status()['records'], 500 - len(bad))
        self.assertEqual(self.n.status()['outbox'], 500 - len(bad))
        refs = [x[0] for x in self.n.sql('SELECT ref FROM case_report ORDER BY ref')]
        self.assertEqual(len(set(refs)), len(refs))

        # the same file again is refused, not imported twice
        r = self.n.run('import', self.path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('imported before', r.stderr)
        self.assertEqual(self.n.status()['records'], 500 - len(bad))
        r = self.n.run('import', '--again', '--rejects', os.path.join(self.n.tmp, 'r2'), self.path)
        self.assertEqual(json.loads(r.stdout)['imported'], 500 - len(bad))

    def test_nul_in_a_line_is_refused(self):
        with open(self.path, 'w') as fp:
            for note in ('baik', 'sapi\x00 mati 40', 'juga baik'):
                fp.write(json.dumps(with_(GOOD, note=note)) + '\n')
        r = self.n.run('import', '--no-progress', self.path)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(':2: note: is not valid text', r.stderr)
        self.assertEqual(json.loads(r.stdout)['imported'], 2)
        self.assertEqual([x[0] for x in self.n.sql('SELECT note FROM case_report ORDER BY ref')],
                         ['baik', 'juga baik'])

    def test_strict_imports_nothing_on_a_bad_line(self):
        bad = nodetest.write_jsonl(self.path, 300, bad_every=150)
        before = self.n.counts()
        r = self.n.run('import', '--strict', self.path)
        self.assertEqual(r.returncode, 65)
        for line in bad:
            self.assertIn(':%d: ' % line, r.stderr)
        self.assertIn('nothing imported', r.stderr)
        self.assertEqual(self.n.counts(), before)
        nodetest.write_jsonl(self.path, 300)
        r = self.n.run('import', '--strict', self.path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.n.status()['records'], 300)

    def test_options_before_and_after_the_file(self):
        """The usage line puts options after FILE; both orders work."""
        nodetest.write_jsonl(self.path, 5)
        r = self.n.run('import', self.path, '--no-progress', '--rejects',
                       os.path.join(self.n.tmp, 'rej'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['imported'], 5)
        r = self.n.run('import', '--again', '--no-progress', self.path, '--strict')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['imported'], 5)
        self.assertEqual(self.n.status()['records'], 10)
        r = self.n.run('import', self.path, 'another.jsonl', '--again')
        self.assertEqual(r.returncode, 2, r.stderr)        # still one FILE only

    def test_missing_file(self):
        r = self.n.run('import', os.path.join(self.n.tmp, 'nope.jsonl'))
        self.assertEqual(r.returncode, 1)
        self.assertIn('cannot read', r.stderr)


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
