#!/usr/bin/env python3
"""test-login.py - web logins against the real daemon on port 0: failed
logins are throttled per (phone, client address) and per address, so a
guesser at one address cannot lock an officer out at another; and an
unknown phone answers exactly like a wrong password (status, body, and
time within noise), so registered phones cannot be told apart.

Client addresses are loopback addresses (127.0.0.2, 127.0.1.7, ...): on
Linux all of 127/8 is this host.

usage: test-login.py NODE_EXE"""
import os
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
VET = ('081211112222', 'sandi-dokter-hewan')
CLERK = ('081233334444', 'sandi-juru-data')
UNKNOWN = '081299990000'                # no officer has this phone
PAIR_MAX, ADDR_MAX = 5, 20              # common/throttle.h


class Login(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = nodetest.Node(EXE)
        for name, (phone, pw), role in [('Drh Sari', VET, 'vet'), ('Citra', CLERK, 'clerk')]:
            r = cls.node.run('officer', 'add', '--name', name, '--phone', phone, '--role', role,
                             '--password-stdin', input=pw + '\n')
            assert r.returncode == 0, r.stderr
        cls.daemon = nodetest.Daemon(cls.node)

    @classmethod
    def tearDownClass(cls):
        assert cls.daemon.stop() == 0

    def login(self, source, phone, password):
        c = nodetest.Client(self.daemon.port, source=source)
        st, h, b = c.request('POST', '/api/v1/login', {'phone': phone, 'password': password})
        return st, h, b

    def test_a_guesser_does_not_lock_the_vet_out(self):
        a, b = '127.0.0.2', '127.0.0.3'
        for i in range(PAIR_MAX):
            self.assertEqual(self.login(a, VET[0], 'salah-%d' % i)[0], 401)
        st, h, body = self.login(a, VET[0], VET[1])
        self.assertEqual(st, 429, body)                     # address A is paused, even for
        self.assertIn(b'"locked"', body)                    # the right password ...
        self.assertGreater(int(h['retry-after']), 800)
        st, _, body = self.login(b, VET[0], VET[1])        # ... the vet at B is not
        self.assertEqual(st, 200, body)
        st, _, body = self.login(a, CLERK[0], CLERK[1])    # nor the clerk at A
        self.assertEqual(st, 200, body)
        # the phone may be written differently: it is the same phone
        self.assertEqual(self.login(a, '+62' + VET[0][1:], VET[1])[0], 429)

    def test_unknown_phones_are_throttled_alike(self):
        a = '127.0.0.4'
        for i in range(PAIR_MAX):
            self.assertEqual(self.login(a, UNKNOWN, 'salah-%d' % i)[0], 401)
        for i in range(PAIR_MAX):
            self.assertEqual(self.login(a, CLERK[0], 'salah-%d' % i)[0], 401)
        st_u, h_u, b_u = self.login(a, UNKNOWN, 'salah')
        st_k, h_k, b_k = self.login(a, CLERK[0], 'salah')
        self.assertEqual((st_u, b_u), (st_k, b_k))
        self.assertEqual(st_u, 429)
        self.assertEqual(h_u.keys(), h_k.keys())

    def test_one_address_trying_many_phones_is_paused(self):
        a, b = '127.0.0.5', '127.0.0.6'
        for i in range(ADDR_MAX):
            self.assertEqual(self.login(a, '0812%08d' % (70000000 + i), 'salah')[0], 401, i)
        self.assertEqual(self.login(a, VET[0], VET[1])[0], 429)
        self.assertEqual(self.login(b, VET[0], VET[1])[0], 200)

    def test_unknown_phone_answers_like_a_wrong_password(self):
        """Byte-identical answers; medians of 10 timed tries each (interleaved,
        each from a fresh address so that no throttle is reached) within 30 %."""
        times = {'unknown': [], 'wrong': []}
        answers = {}
        for i in range(10):
            for kind, phone in (('unknown', UNKNOWN), ('wrong', CLERK[0])):
                src = '127.0.%d.%d' % (1 if kind == 'unknown' else 2, 10 + i)
                t0 = time.monotonic()
                st, h, body = self.login(src, phone, 'bukan-sandinya')
                times[kind].append(time.monotonic() - t0)
                h.pop('date', None)
                answers.setdefault(kind, set()).add((st, body, tuple(sorted(h.items()))))
        self.assertEqual(len(answers['unknown']), 1, answers)
        self.assertEqual(answers['unknown'], answers['wrong'])
        st, body, _ = next(iter(answers['unknown']))
        self.assertEqual(st, 401, body)
        mu, mw = statistics.median(times['unknown']), statistics.median(times['wrong'])
        print('median unknown %.3f s, wrong password %.3f s' % (mu, mw), file=sys.stderr)
        self.assertLess(abs(mu - mw), 0.3 * max(mu, mw), (times['unknown'], times['wrong']))
        self.assertGreater(min(mu, mw), 0.01)              # the KDF ran for both


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
