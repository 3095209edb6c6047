#!/usr/bin/env python3
"""test-tls.py - the node's pages over HTTPS (web.tls_cert_file and
web.tls_key_file): a tablet's browser runs the offline app (service
worker) only in a secure context, which plain HTTP on the LAN is not.
A certificate of the node's own (openssl CLI, EC P-256, for 127.0.0.1):
the shell, the service worker and the API answer over TLS, the session
cookie is Secure, plain HTTP on that port is refused, and a setting
without its other half stops the daemon with a clear error.

usage: test-tls.py NODE_EXE"""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
VET = ('081211112222', 'sandi-dokter-hewan')


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = nodetest.Node(EXE)
        r = cls.node.run('officer', 'add', '--name', 'Drh Sari', '--phone', VET[0], '--role',
                         'vet', '--password-stdin', input=VET[1] + '\n')
        assert r.returncode == 0, r.stderr
        d = os.path.dirname(cls.node.db)
        cls.cert, cls.key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', cls.key, '-out',
                        cls.cert, '-days', '2', '-subj', '/CN=node-kabupaten',
                        '-addext', 'subjectAltName=IP:127.0.0.1'],
                       check=True, capture_output=True)

    def conf(self, text):
        path = os.path.join(os.path.dirname(self.node.db), 'node.conf')
        with open(path, 'w') as fp:
            fp.write(text)
        return path

    def start(self, conf):
        cmd = [EXE, '--db', self.node.db, '--config', conf, 'run', '--listen', '127.0.0.1:0']
        return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)

    def test_pages_and_api_over_https(self):
        p = self.start(self.conf('[web]\ntls_cert_file = %s\ntls_key_file = %s\n' %
                                 (self.cert, self.key)))
        try:
            port, log = None, ''
            while port is None:
                line = p.stderr.readline()
                self.assertTrue(line, 'the daemon ended: ' + log)
                log += line
                if 'listening on https://127.0.0.1:' in line:
                    port = int(line.rsplit(':', 1)[1])
            ctx = ssl.create_default_context(cafile=self.cert)   # verified, by name 127.0.0.1

            def req(method, path, body=None, headers=None):
                c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=30)
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
                c.close()
                return out
            for path in ('/', '/sw.js', '/manifest.webmanifest'):
                st, _, body = req('GET', path)
                self.assertEqual(st, 200, path)
                self.assertTrue(body, path)
            st, h, body = req('POST', '/api/v1/login',
                              json.dumps({'phone': VET[0], 'password': VET[1]}),
                              {'Content-Type': 'application/json'})
            self.assertEqual(st, 200, body)
            self.assertIn('Secure', h['set-cookie'])
            sid = h['set-cookie'].split(';')[0]
            st, _, body = req('GET', '/api/v1/session', headers={'Cookie': sid})
            self.assertEqual((st, json.loads(body)['officer']['phone'][-4:]), (200, '2222'))
            # plain HTTP on the HTTPS port gets no page
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
            with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
                c.request('GET', '/')
                r = c.getresponse()
                self.assertNotEqual(r.status, 200)
                raise ConnectionError('refused with %d' % r.status)
            c.close()
        finally:
            p.terminate()
            p.wait(timeout=20)

    def test_half_a_setting_is_refused(self):
        p = self.start(self.conf('[web]\ntls_cert_file = %s\n' % self.cert))
        _, err = p.communicate(timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('web.tls_key_file', err)

    def test_plain_http_without_the_settings(self):
        with nodetest.Daemon(self.node) as d:
            c = nodetest.Client(d.port)
            self.assertEqual(c.login(*VET)[0], 200)
            st, h, _ = c.request('POST', '/api/v1/login', {'phone': VET[0], 'password': VET[1]})
            self.assertNotIn('Secure', h.get('set-cookie', ''))


if __name__ == '__main__':
    EXE = sys.argv.pop(1)
    if not shutil.which('openssl'):
        print('1..0 # SKIP no openssl CLI')
        sys.exit(77)
    unittest.main()
