#!/usr/bin/env python3
"""test_hub_cli.py - the command line of sikhnas-hub, without a database:
global options before the command, the command's own after it (in any
order with its words), and exit status 2 with the usage for an unknown
option, a missing argument, a value out of range or an option of another
command. A command line that parses but finds no database exits 1.

usage: test_hub_cli.py PATH/TO/sikhnas-hub   (exit status 0 = all passed)"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

EXE = None
NO_PG = 'host=127.0.0.1 port=1 connect_timeout=1'    # parses; nothing listens there
USAGE = 'usage: sikhnas-hub [-v|-q] --pg CONNINFO COMMAND [OPTIONS]'


def hub(*args, env_pg=None):
    env = dict(os.environ)
    env.pop('SIKHNAS_HUB_PG', None)
    if env_pg:
        env['SIKHNAS_HUB_PG'] = env_pg
    return subprocess.run([EXE] + list(args), capture_output=True, text=True, timeout=60,
                          env=env)


class Usage(unittest.TestCase):
    def usage_error(self, *args, says=None):
        r = hub(*args)
        self.assertEqual(r.returncode, 2, (args, r.stderr))
        if says:
            self.assertIn(says, r.stderr, args)
        return r

    def test_help_on_stdout(self):
        for args in (['-h'], ['--help'], ['--pg', NO_PG, 'run', '--help'],
                     ['ca', '-h']):
            r = hub(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertTrue(r.stdout.startswith(USAGE), (args, r.stdout))
            self.assertIn('node add --district CODE --name NAME [--token-hours N]', r.stdout)

    def test_no_command(self):
        r = self.usage_error()
        self.assertIn(USAGE, r.stderr)
        self.usage_error('--pg', NO_PG)
        self.usage_error('--pg', NO_PG, 'no-such-command')

    def test_unknown_options(self):
        self.usage_error('--bogus', 'migrate', says="unknown option '--bogus'")
        self.usage_error('-x', 'migrate', says="unknown option '-x'")
        self.usage_error('--pg', NO_PG, 'run', '--bogus', says="unknown option '--bogus'")
        self.usage_error('--pg', NO_PG, 'node', 'list', '-z', says="unknown option '-z'")

    def test_missing_arguments(self):
        self.usage_error('--pg', says="option '--pg' needs an argument")
        self.usage_error('--pg', NO_PG, 'node', 'add', '--name', 'a', '--district',
                         says="option '--district' needs an argument")
        self.usage_error('--pg', NO_PG, 'run', '--listen', says="'--listen' needs")
        self.usage_error('--pg', NO_PG, 'node', 'revoke')
        self.usage_error('--pg', NO_PG, 'refdata')
        self.usage_error('ca', '--dir', tempfile.gettempdir())
        self.usage_error('--pg', NO_PG, 'node', 'add', '--name', 'a',
                         says='node add needs --district CODE and --name NAME')
        self.usage_error('ca', 'init', says='ca init needs --dir DIR')
        self.usage_error('migrate', says='--pg CONNINFO is required')

    def test_options_belong_to_their_command(self):
        # global options after the command, and one command's options on another
        self.usage_error('migrate', '--pg', NO_PG, says="unknown option '--pg'")
        self.usage_error('--pg', NO_PG, 'node', 'list', '-v', says="unknown option '-v'")
        self.usage_error('--pg', NO_PG, 'migrate', '--areas', '/tmp',
                         says="unknown option '--areas'")
        self.usage_error('--pg', NO_PG, 'node', 'list', '--name', 'a')
        self.usage_error('--pg', NO_PG, 'node', 'revoke', 'a', '--district', '3201')
        self.usage_error('--pg', NO_PG, 'run', '--name', 'a', says="unknown option '--name'")

    def test_values_out_of_range(self):
        run = ['--pg', NO_PG, 'run', '--listen', '127.0.0.1:0', '--tls-cert', 'c',
               '--tls-key', 'k', '--client-ca', 'ca.pem']
        for opt, val, says in (('--pg-conns', '0', '--pg-conns must be 1 to 64'),
                               ('--pg-conns', '65', '--pg-conns must be 1 to 64'),
                               ('--cert-lifetime', '1', '--cert-lifetime must be'),
                               ('--enroll-rate', '0', '--enroll-rate must be'),
                               ('--max-conns-per-addr', '0', '--max-conns-per-addr must be'),
                               ('--handshake-timeout', '61', '--handshake-timeout must be')):
            self.usage_error(*run, opt, val, says=says)
        self.usage_error('--pg', NO_PG, 'node', 'add', '--district', '3201', '--name', 'a',
                         '--token-hours', '8761', says='--token-hours must be 1 to 8760')
        self.usage_error('--pg', NO_PG, 'run', '--listen', 'nowhere', '--tls-cert', 'c',
                         '--tls-key', 'k', '--client-ca', 'ca.pem', says='is not HOST:PORT')

    def test_extra_words(self):
        self.usage_error('--pg', NO_PG, 'node', 'list', 'extra',
                         says="unexpected argument 'extra'")
        self.usage_error('--pg', NO_PG, 'refdata', 'load', 'extra',
                         says="unexpected argument 'extra'")
        self.usage_error('--pg', NO_PG, 'migrate', 'extra')
        self.usage_error('--pg', NO_PG, 'run', 'extra')


class Parses(unittest.TestCase):
    """Command lines that parse: the command starts and fails on the
    database (1), never on its arguments (2)."""

    def test_each_command_reaches_the_database(self):
        for args in (['migrate'], ['refdata', 'load', '--areas', '/nonexistent'],
                     ['node', 'list'], ['node', 'revoke', 'a'],
                     ['node', 'add', '--district', '3201', '--name', 'a'],
                     ['node', '--name', 'a', 'add', '--district', '3201', '--token-hours', '1'],
                     ['node', 'add', '--name=a', '--district=3201']):
            for pre in (['--pg', NO_PG], ['-q', '--pg', NO_PG], ['-v', '-v', '--pg', NO_PG]):
                r = hub(*(pre + args))
                self.assertEqual(r.returncode, 1, (pre + args, r.stderr))
                self.assertIn('cannot connect to PostgreSQL', r.stderr, pre + args)

    def test_pg_from_the_environment(self):
        r = hub('node', 'list', env_pg=NO_PG)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('cannot connect to PostgreSQL', r.stderr)

    def test_ca_init_needs_no_database(self):
        d = tempfile.mkdtemp(prefix='sikhnas-hub-cli-')
        try:
            for args, kept in ((['ca', 'init', '--dir', d], False),
                               (['ca', '--dir', d, 'init'], True)):
                r = hub(*args)
                self.assertEqual(r.returncode, 0, (args, r.stderr))
                self.assertEqual(r.stdout.strip(), d + '/ca.pem' +
                                 (' (exists; left as it is)' if kept else ''))
            self.assertTrue(os.path.exists(os.path.join(d, 'ca.key')))
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
