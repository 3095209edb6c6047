#!/usr/bin/env python3
"""test_ops_pages.py - the operators' pages of sikhnas-web (hub/web/web_ops.c)
over HTTPS against a real PostgreSQL + PostGIS (tests/analyst/analystlib.py):
the fleet (problems, filters, sorting, a bad sort refused), a node's history,
the queue with retry and cancel, the recipients, revoking a node, who may
(operator only, CSRF on every action, a client certificate when the
operators' CA is configured), and the audit of every action.

usage: test_ops_pages.py SIKHNAS_WEB SIKHNAS_HUB"""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'analyst'))
sys.path.insert(0, HERE)
import analystlib  # noqa: E402
import opsdata  # noqa: E402

C = None


def get(s, name, **q):
    import urllib.parse
    return s.request('GET', '/api/v1/ops/%s?%s' % (name, urllib.parse.urlencode(q)))


def act(s, name, body, csrf=True):
    h = {'Content-Type': 'application/json'}
    if csrf:
        h['X-CSRF-Token'] = s.csrf
    return s.request('POST', '/api/v1/ops/' + name, json.dumps(body), h)


class Pages(unittest.TestCase):
    def test_fleet_flags_each_problem(self):
        rows = get(C.session('ops'), 'fleet').json()
        mine = dict((r['node_id'], r) for r in rows if r['node_id'] in opsdata.NODES)
        self.assertEqual(len(mine), 5)
        for nid, (_, _, problem) in opsdata.NODES.items():
            self.assertEqual(mine[nid]['problems'], problem, nid)
        s = C.session('ops')
        only = get(s, 'fleet', problem='clock').json()
        self.assertEqual([r['name'] for r in only], ['clock-kupang'])
        area = get(s, 'fleet', area='3202').json()
        self.assertEqual(sorted(r['name'] for r in area), ['cert-sukabumi', 'queue-sukabumi'])
        deep = get(s, 'fleet', sort='outbox_depth', desc='1').json()
        self.assertEqual(deep[0]['name'], 'queue-sukabumi')
        node = get(s, 'fleet', node=opsdata.OK).json()
        self.assertEqual(len(node), 1)
        self.assertEqual(node[0]['name'], 'ok-bogor')

    def test_bad_filters_refused(self):
        s = C.session('ops')
        for q in ({'sort': 'district;DROP TABLE job'}, {'area': "32' OR 1=1"},
                  {'problem': 'x' * 40}, {'desc': '2'}):
            self.assertEqual(get(s, 'fleet', **q).status, 400, q)
        # a sort column that is not in the list falls back to the district
        rows = get(s, 'fleet', sort='node_id').json()
        self.assertEqual([r['district'] for r in rows], sorted(r['district'] for r in rows))

    def test_node_history(self):
        s = C.session('ops')
        h = get(s, 'node_history', id=opsdata.OK).json()
        self.assertEqual(len(h), 365)
        self.assertEqual(h[-1]['contacts'], 20)
        self.assertEqual(len(get(s, 'node_history', id=opsdata.OK, days=30).json()), 30)
        self.assertEqual(get(s, 'node_history', id="x'--").status, 400)

    def test_queue_retry_and_cancel(self):
        s = C.session('ops')
        counts = dict((r['state'], r['jobs']) for r in get(s, 'queue_counts').json())
        self.assertGreaterEqual(counts['dead'], 1)
        dead = [r for r in get(s, 'queue', state='dead').json() if r['idem_key'] == 'ops:dead'][0]
        self.assertIn('550', dead['last_error'])
        self.assertEqual(act(s, 'job_retry', {'id': dead['id']}, csrf=False).status, 403)
        r = act(s, 'job_retry', {'id': dead['id']})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(C.pg.psql("SELECT state, attempts FROM job WHERE id = %d" % dead['id']),
                         'pending|0')
        done = C.pg.scalar("SELECT id FROM job WHERE idem_key = 'ops:done'")
        self.assertEqual(act(s, 'job_retry', {'id': done}).status, 409)
        pend = C.pg.scalar("SELECT id FROM job WHERE idem_key = 'ops:pending'")
        self.assertEqual(act(s, 'job_cancel', {'id': pend}).status, 200)
        self.assertEqual(C.pg.psql("SELECT state FROM job WHERE id = %d" % pend), 'cancelled')
        self.assertEqual(act(s, 'job_cancel', {'id': 'x'}).status, 400)
        self.assertEqual(act(s, 'job_retry', {}).status, 400)
        audit = C.pg.psql("SELECT count(*) FROM analyst.audit WHERE event = 'ops' "
                          "AND login = 'ops' AND detail LIKE 'job_retry %%'")
        self.assertGreaterEqual(int(audit), 2)

    def test_recipients(self):
        s = C.session('ops')
        self.assertEqual(act(s, 'recipient_add', {'email': 'bad\r\nBcc: x', 'role': 'vet'}).status,
                         400)
        self.assertEqual(act(s, 'recipient_add', {'email': 'a@b.c', 'role': 'boss'}).status, 400)
        r = act(s, 'recipient_add', {'email': 'new@example.go.id', 'role': 'analyst',
                                     'province': '53', 'name': 'Ana'})
        self.assertEqual(r.status, 200, r.body)
        rows = get(s, 'recipients').json()
        new = [x for x in rows if x['email'] == 'new@example.go.id']
        self.assertEqual(len(new), 1)
        self.assertEqual(new[0]['province'], '53')
        self.assertEqual(act(s, 'recipient_remove', {'id': new[0]['id']}).status, 200)
        self.assertFalse([x for x in get(s, 'recipients').json()
                          if x['email'] == 'new@example.go.id'])

    def test_revoke_node(self):
        s = C.session('ops')
        nid = '00000000-0000-7000-8000-000000000002'
        self.assertEqual(act(s, 'node_revoke', {'node': nid}).status, 200)
        self.assertEqual(C.pg.psql("SELECT revoked_at IS NOT NULL FROM node_registration "
                                   "WHERE node_id = '%s'" % nid), 't')
        self.assertEqual(C.pg.psql("SELECT reason FROM security_audit WHERE event = 'revoke' "
                                   "AND node_id = '%s'" % nid), 'by operator ops')
        self.assertFalse([r for r in get(s, 'fleet').json() if r['node_id'] == nid])
        self.assertEqual(act(s, 'node_revoke', {'node': nid}).status, 409)

    def test_only_operators(self):
        nat = C.session('nat')
        self.assertEqual(get(nat, 'fleet').status, 403)
        self.assertEqual(act(nat, 'job_retry', {'id': 1}).status, 403)
        self.assertEqual(get(C.session(), 'fleet').status, 401)
        self.assertEqual(get(C.session('ops'), 'nothing').status, 404)

    def test_client_certificate_required(self):
        d = C.tmp
        key, csr, crt = (os.path.join(d, n) for n in ('op2.key', 'op2.csr', 'op2.pem'))
        for argv in (['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key],
                     ['req', '-new', '-key', key, '-subj', '/CN=operator', '-out', csr],
                     ['x509', '-req', '-in', csr, '-CA', C.ca, '-CAkey',
                      os.path.join(d, 'ca.key'), '-CAcreateserial', '-days', '1', '-out', crt]):
            subprocess.run(['openssl'] + argv, check=True, capture_output=True)
        C.stop_web()
        try:
            C.start_web(client_ca=C.ca)
            plain = C.session('ops')
            self.assertEqual(get(plain, 'fleet').status, 403)
            pend = C.pg.scalar("SELECT id FROM job WHERE idem_key = 'ops:failed'")
            r = act(plain, 'job_cancel', {'id': pend})
            self.assertEqual(r.status, 403)
            self.assertEqual(r.json()['error'], 'client_certificate_required')
            withc = C.session('ops', cert=(crt, key))
            self.assertEqual(get(withc, 'fleet').status, 200)
            self.assertEqual(act(withc, 'job_cancel', {'id': pend}).status, 200)
        finally:
            C.stop_web()
            C.start_web()


def main():
    global C
    web, hub = sys.argv[1], sys.argv[2]
    C = analystlib.Central(os.path.abspath(web), os.path.abspath(hub))
    try:
        C.pg.psql(opsdata.seed_sql())
        C.start_web()
        prog = unittest.main(argv=[sys.argv[0], '-v'] + sys.argv[3:], exit=False)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        C.close()


if __name__ == '__main__':
    sys.exit(main())
