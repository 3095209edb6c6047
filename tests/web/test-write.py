#!/usr/bin/env python3
"""test-write.py - the API's write paths against the real daemon on port 0:
who may write what (a village reporter only for the own village and as
themselves), contradictory counts, and NUL characters in any text field.
Every refusal must leave the store as it was.

usage: test-write.py NODE_EXE"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
VET = ('081211112222', 'sandi-dokter-hewan')
REPORTER = ('081255556666', 'sandi-pelapor')       # reporter of 3201011001
OWN, OTHER = '3201011001', '3201011002'


def report(**kw):
    r = {'kind': 'U', 'village': OWN, 'signs': ['DMM'], 'event_date': '2026-01-02',
         'animals': [{'species': 'SP', 'sick': 1}]}
    r.update(kw)
    return r


class Write(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = nodetest.Node(EXE)
        for name, (phone, pw), role, village in [('Drh Sari', VET, 'vet', OTHER),
                                                 ('Budi Pelsa', REPORTER, 'reporter', OWN)]:
            r = cls.node.run('officer', 'add', '--name', name, '--phone', phone, '--role', role,
                             '--village', village, '--password-stdin', input=pw + '\n')
            assert r.returncode == 0, r.stderr
        cls.daemon = nodetest.Daemon(cls.node)
        cls.vet = nodetest.Client(cls.daemon.port)
        cls.vet_en = nodetest.Client(cls.daemon.port, lang='en')
        cls.rep = nodetest.Client(cls.daemon.port)
        assert cls.vet.login(*VET)[0] == 200
        assert cls.vet_en.login(*VET)[0] == 200
        assert cls.rep.login(*REPORTER)[0] == 200

    @classmethod
    def tearDownClass(cls):
        assert cls.daemon.stop() == 0

    def refused(self, client, path, body, status, code, field):
        before = self.node.counts()
        st, j = client.post(path, body)
        self.assertEqual((st, j['error']['code'], j['error'].get('field')), (status, code, field),
                         (path, body, j))
        self.assertEqual(self.node.counts(), before, (path, body))
        return j['error']

    def saved(self, client, path, body):
        st, j = client.post(path, body)
        self.assertEqual(st, 201, (path, body, j))
        return j

    # ---------------------------------------------------------- who may write what

    def test_reporter_only_for_the_own_village(self):
        e = self.refused(self.rep, '/api/v1/reports', report(village=OTHER), 403,
                         'not_own_village', 'village')
        self.assertIn('desanya sendiri', e['message'])
        ref = self.saved(self.rep, '/api/v1/reports', report())['ref']
        self.assertEqual(self.node.sql('SELECT village, reporter FROM case_report WHERE ref = ?',
                                       (ref,)), [(OWN, '+62' + REPORTER[0][1:])])

    def test_reporter_reports_as_themselves(self):
        self.refused(self.rep, '/api/v1/reports', report(reporter=VET[0]), 403,
                     'forbidden', 'reporter')
        self.saved(self.rep, '/api/v1/reports', report(reporter=REPORTER[0]))

    def test_reporter_other_kinds_refused(self):
        self.refused(self.rep, '/api/v1/populations', {'village': OWN, 'event_date': '2026-01-02',
                                                       'animals': [{'species': 'SP', 'n': 3}]},
                     403, 'forbidden', None)

    def test_vet_writes_for_any_village(self):
        ref = self.saved(self.vet, '/api/v1/reports', report(village='3201011006'))['ref']
        self.assertEqual(self.node.sql('SELECT reporter FROM case_report WHERE ref = ?', (ref,)),
                         [('+62' + VET[0][1:],)])
        self.saved(self.vet, '/api/v1/reports', report(reporter=REPORTER[0]))

    # ---------------------------------------------------------- counts

    def test_list_gives_exact_integers(self):
        # An hlc is above 2**53: printed as a double it came back rounded.
        rid = self.saved(self.vet, '/api/v1/populations',
                         {'village': OWN, 'event_date': '2026-01-03',
                          'animals': [{'species': 'SP', 'n': 7}]})['id']
        st, rows = self.vet.get('/api/v1/populations')
        self.assertEqual(st, 200)
        got = [r for r in rows if r['id'] == rid]
        self.assertEqual(len(got), 1, rows)
        self.assertIsInstance(got[0]['hlc'], int)
        self.assertEqual(got[0]['hlc'],
                         self.node.sql('SELECT hlc FROM population_report WHERE id = ?',
                                       (rid,))[0][0])

    def test_case_counts_must_agree(self):
        e = self.refused(self.vet_en, '/api/v1/reports', report(animals=[
            {'species': 'SP', 'sick': 500, 'dead': 0, 'at_risk': 1}]), 422, 'count_conflict',
            'animals[0]')
        self.assertIn('at risk', e['message'])
        self.assertEqual(e['detail'], '500 > 1')
        e = self.refused(self.vet, '/api/v1/reports', report(animals=[
            {'species': 'SP', 'sick': 2, 'at_risk': 9},
            {'species': 'KB', 'sick': 0, 'dead': 0, 'at_risk': 10}]), 422, 'count_conflict',
            'animals[1]')
        self.assertIn('sakit + mati', e['message'])
        self.refused(self.vet, '/api/v1/reports', report(animals=[
            {'species': 'SP', 'sick': 1, 'dead': 499, 'at_risk': 499}]), 422, 'count_conflict',
            'animals[0]')
        self.saved(self.vet, '/api/v1/reports', report(animals=[
            {'species': 'SP', 'sick': 500, 'dead': 3, 'at_risk': 0}]))     # at risk not counted
        self.saved(self.vet, '/api/v1/reports', report(animals=[
            {'species': 'SP', 'sick': 5, 'dead': 5, 'at_risk': 10}]))      # exactly all
        self.saved(self.vet, '/api/v1/reports', report(animals=[
            {'species': 'SP', 'dead': 1}]))                                  # dead only

    def test_followup_counts_must_agree(self):
        ref = self.saved(self.vet, '/api/v1/reports', report())['ref']
        fu = {'case_ref': ref, 'event_date': '2026-01-03'}
        e = self.refused(self.vet_en, '/api/v1/followups', dict(fu, animals=[
            {'species': 'SP', 'sick': 3, 'dead': 3, 'culled': 5, 'at_risk': 10}]), 422,
            'count_conflict', 'animals[0]')
        self.assertIn('culled', e['message'])
        self.assertEqual(e['detail'], '11 > 10')
        self.saved(self.vet, '/api/v1/followups', dict(fu, animals=[
            {'species': 'SP', 'sick': 3, 'dead': 3, 'culled': 4, 'at_risk': 10}]))
        self.saved(self.vet, '/api/v1/followups', dict(fu, animals=[
            {'species': 'SP', 'sick': 3, 'dead': 3, 'culled': 40, 'at_risk': 0}]))
        self.saved(self.vet, '/api/v1/followups', dict(fu, animals=[
            {'species': 'SP', 'sick': 0, 'dead': 0, 'culled': 0, 'at_risk': 10}]))  # all well

    # ---------------------------------------------------------- NUL in text

    def test_nul_in_any_text_field(self):
        ref = self.saved(self.vet, '/api/v1/reports', report())['ref']
        nul = 'ab\x00cd'            # json.dumps writes it as the escape \u0000
        cases = [
            ('/api/v1/reports', report(note=nul), 'note'),
            ('/api/v1/reports', report(village=OWN + '\x00x'), 'village'),
            ('/api/v1/reports', report(animals=[{'species': 'SP\x00X', 'sick': 1}]), 'animals'),
            ('/api/v1/treatments', {'case_ref': ref, 'village': OWN, 'species': 'SP',
                                    'drug': 'Oksitetrasiklin\x00 LA', 'n_animals': 2,
                                    'event_date': '2026-01-03'}, 'drug'),
            ('/api/v1/treatments', {'village': OWN, 'species': 'SP', 'drug': 'Ivermectin',
                                    'n_animals': 2, 'event_date': '2026-01-03', 'note': nul},
             'note'),
            ('/api/v1/movements', {'owner_id': '0812777\x00', 'from_area': OWN, 'to_area': '3202',
                                   'animals': [{'species': 'SP', 'n': 2}],
                                   'issue_date': '2026-01-03'}, 'owner_id'),
            ('/api/v1/vaccinations', {'program': 'AI\x00-1', 'village': OWN,
                                      'animals': [{'species': 'AY', 'primary': 10}],
                                      'event_date': '2026-01-02'}, 'program'),
            ('/api/v1/slaughters', {'abattoir': 'RPH\x00 Bogor', 'village': OWN, 'species': 'SP',
                                    'n_animals': 3, 'event_date': '2026-01-02'}, 'abattoir'),
            ('/api/v1/slaughters', {'village': OWN, 'species': 'SP', 'n_animals': 3,
                                    'event_date': '2026-01-02', 'note': nul}, 'note'),
        ]
        for path, body, field in cases:
            raw = json.dumps(body).encode()
            self.assertIn(b'\\u0000', raw)
            self.refused(self.vet, path, raw, 422, 'encoding', field)
        # a key with a NUL would be cut to a known one
        self.refused(self.vet, '/api/v1/reports',
                     json.dumps(report()).encode()[:-1] + b', "note\\u0000x": "y"}', 422,
                     'encoding', 'note')
        # a raw NUL byte in the body
        self.refused(self.vet, '/api/v1/reports',
                     json.dumps(report(note='abXcd')).encode().replace(b'X', b'\x00'), 422,
                     'encoding', 'note')
        # an escaped backslash before "u0000" is only text
        ref = self.saved(self.vet, '/api/v1/reports', report(note='C:\\u0000'))['ref']
        self.assertEqual(self.node.sql('SELECT note FROM case_report WHERE ref = ?', (ref,)),
                         [('C:\\u0000',)])
        e = self.refused(self.vet_en, '/api/v1/reports', json.dumps(report(note=nul)).encode(),
                         422, 'encoding', 'note')
        self.assertIn('NUL', e['message'])


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
