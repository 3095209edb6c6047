#!/usr/bin/env python3
"""test-officers.py - the officers' API against the real daemon on port 0:
phones in any of their forms are one number; every refusal of a form at
once, each at its field; who may manage whom (a clerk: reporters and
viewers); no one deactivates themselves; a deactivated officer's session
ends and their SMS are no longer taken; a new web password works and ends
the old sessions; each change is queued for the hub.

usage: test-officers.py NODE_EXE"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
VET = ('081211112222', 'sandi-dokter-hewan')
CLERK = ('081233334444', 'sandi-petugas-data')
VILLAGE = '3201011001'


class Officers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = nodetest.Node(EXE)
        for name, (phone, pw), role in [('Drh Sari', VET, 'vet'), ('Citra Data', CLERK, 'clerk')]:
            r = cls.node.run('officer', 'add', '--name', name, '--phone', phone, '--role', role,
                             '--village', VILLAGE, '--password-stdin', input=pw + '\n')
            assert r.returncode == 0, r.stderr
        cls.daemon = nodetest.Daemon(cls.node)
        cls.vet = nodetest.Client(cls.daemon.port)
        cls.clerk = nodetest.Client(cls.daemon.port)
        assert cls.vet.login(*VET)[0] == 200
        assert cls.clerk.login(*CLERK)[0] == 200

    @classmethod
    def tearDownClass(cls):
        assert cls.daemon.stop() == 0

    def officer(self, phone):
        st, rows = self.vet.get('/api/v1/officers')
        self.assertEqual(st, 200)
        return [o for o in rows if o['phone'] == phone]

    def test_phones_in_every_form_are_one_number(self):
        st, j = self.vet.post('/api/v1/officers', {'name': 'Budi Pelsa', 'phone': '0812-7000-0001',
                                                   'role': 'reporter', 'village': '32.01.01.1001'})
        self.assertEqual(st, 201, j)
        self.assertEqual(j['phone'], '+6281270000001')
        o = self.officer('+6281270000001')[0]
        self.assertEqual((o['role'], o['village'], o['village_name'], o['active']),
                         ('reporter', VILLAGE, 'Pondok Rajeg', 1))
        for same in ('6281270000001', '+6281270000001', '081270000001'):
            st, j = self.vet.post('/api/v1/officers', {'name': 'Lagi', 'phone': same,
                                                       'role': 'viewer'})
            self.assertEqual((st, j['error']['code']), (409, 'phone_taken'), same)
        # the change goes to the hub like any record
        self.assertEqual(self.node.sql("SELECT count(*) FROM outbox WHERE tbl = 'officer' AND "
                                       "row_id = ?", (o['id'],))[0][0], 1)

    def test_every_refusal_at_once(self):
        before = self.node.counts()
        st, j = self.vet.post('/api/v1/officers', {'name': '', 'phone': '12345', 'role': 'boss',
                                                   'village': '3202011001'})
        self.assertEqual(st, 422, j)
        fields = sorted(e['field'] for e in j['errors'])
        self.assertEqual(fields, ['name', 'phone', 'role', 'village'])
        self.assertEqual(j['error']['field'], 'name')
        for e in j['errors']:
            self.assertTrue(e['message'])
        st, j = self.vet.post('/api/v1/officers', {'name': 'Tanpa Desa', 'phone': '081270000099',
                                                   'role': 'reporter'})
        self.assertEqual((st, j['error']['field']), (422, 'village'))
        self.assertEqual(self.node.counts(), before)

    def test_a_clerk_manages_reporters_and_viewers_only(self):
        st, j = self.clerk.post('/api/v1/officers', {'name': 'Vet Palsu', 'phone': '081270000002',
                                                     'role': 'vet'})
        self.assertEqual((st, j['error']['code']), (403, 'forbidden'))
        vet_id = self.officer('+' + '62' + VET[0][1:])[0]['id']
        st, j = self.clerk.post('/api/v1/officers/update', {'id': vet_id, 'active': False})
        self.assertEqual(st, 403)
        st, j = self.clerk.post('/api/v1/officers/password', {'id': vet_id, 'password': 'x' * 10})
        self.assertEqual(st, 403)
        st, j = self.clerk.post('/api/v1/officers', {'name': 'Pak Lihat', 'phone': '081270000003',
                                                     'role': 'viewer'})
        self.assertEqual(st, 201, j)
        st, j = self.clerk.post('/api/v1/officers/update', {'id': j['id'], 'role': 'vet'})
        self.assertEqual(st, 403)          # nor promote someone to vet

    def test_no_one_deactivates_themselves(self):
        me = self.officer('+62' + VET[0][1:])[0]['id']
        st, j = self.vet.post('/api/v1/officers/update', {'id': me, 'active': False})
        self.assertEqual((st, j['error']['code']), (403, 'self'))
        st, j = self.vet.post('/api/v1/officers/update', {'id': me, 'role': 'viewer'})
        self.assertEqual((st, j['error']['code']), (403, 'self'))
        st, j = self.vet.post('/api/v1/officers/update', {'id': me, 'name': 'drh. Sari W.'})
        self.assertEqual(st, 200, j)

    def test_deactivate_password_and_sessions(self):
        st, j = self.vet.post('/api/v1/officers', {'name': 'Dewi Data', 'phone': '081270000004',
                                                   'role': 'clerk'})
        self.assertEqual(st, 201, j)
        oid = j['id']
        st, j = self.vet.post('/api/v1/officers/password', {'id': oid, 'password': 'short'})
        self.assertEqual((st, j['error']['code']), (422, 'password'))
        st, _ = self.vet.post('/api/v1/officers/password', {'id': oid, 'password': 'sandi-baru-dewi'})
        self.assertEqual(st, 204)
        dewi = nodetest.Client(self.daemon.port)
        self.assertEqual(dewi.login('6281270000004', 'sandi-baru-dewi')[0], 200)
        self.assertEqual(dewi.get('/api/v1/session')[0], 200)
        # a new password ends the old sessions
        st, _ = self.vet.post('/api/v1/officers/password', {'id': oid, 'password': 'sandi-lain-dewi'})
        self.assertEqual(st, 204)
        self.assertEqual(dewi.get('/api/v1/session')[0], 401)
        self.assertEqual(dewi.login('081270000004', 'sandi-lain-dewi')[0], 200)
        # deactivated: the session ends, logins fail, the list says so
        st, j = self.vet.post('/api/v1/officers/update', {'id': oid, 'active': False})
        self.assertEqual(st, 200, j)
        self.assertEqual(dewi.get('/api/v1/session')[0], 401)
        self.assertEqual(nodetest.Client(self.daemon.port).login('081270000004',
                                                                 'sandi-lain-dewi')[0], 401)
        self.assertEqual(self.officer('+6281270000004')[0]['active'], 0)
        st, j = self.vet.post('/api/v1/officers/update', {'id': oid, 'active': True})
        self.assertEqual(st, 200, j)
        self.assertEqual(self.officer('+6281270000004')[0]['active'], 1)
        st, j = self.vet.post('/api/v1/officers/update', {'id': 'nobody'})
        self.assertEqual(st, 404)


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
