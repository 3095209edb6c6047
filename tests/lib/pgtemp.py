"""pgtemp.py - a throwaway PostgreSQL 15 (with PostGIS available) for tests.

Python 3 standard library only. Starts initdb + pg_ctl in a temporary
directory, listening on 127.0.0.1 on a free port (and on a Unix socket in
that directory), trust authentication, and stops it at exit. When the
tests run as root (CI), the cluster runs as the OS user `sikhnas-test`,
created idempotently with useradd, because PostgreSQL refuses root.

    import sys; sys.path.insert(0, 'tests/lib'); import pgtemp
    with pgtemp.PgTemp() as pg:
        pg.psql("CREATE EXTENSION postgis")          # returns stdout as text
        conninfo = pg.conninfo                          # for libpq / sikhnas-hub --pg
        pg.restart()                                    # same port, same data
        pg.kill9(); pg.start()                          # crash and recover

Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), PGTEMP_KEEP=1
(or SIKHNAS_KEEP_TMP=1, as for the other test files) keeps the directory for
post-mortems.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BINDIR = os.environ.get('PG_BINDIR', '/usr/lib/postgresql/15/bin')
TEST_USER = 'sikhnas-test'


def free_port():
    """An unused TCP port on 127.0.0.1 (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ensure_user():
    try:
        import pwd
        pwd.getpwnam(TEST_USER)
        return
    except KeyError:
        pass
    r = subprocess.run(['useradd', '--system', '--no-create-home', '--shell', '/bin/sh',
                        TEST_USER], capture_output=True, text=True)
    if r.returncode not in (0, 9):        # 9: already exists (a concurrent run made it)
        raise RuntimeError('useradd %s failed: %s' % (TEST_USER, r.stderr.strip()))


class PgTemp:
    """One PostgreSQL cluster in a temporary directory; see the module doc."""

    def __init__(self, dbname='sikhnas', port=None, postgis=True, settings=None):
        self.dbname = dbname
        self.port = port or free_port()
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix='pgtemp-')
        self.data = os.path.join(self.dir, 'data')
        self.log = os.path.join(self.dir, 'postgres.log')
        self.user = TEST_USER if self.root else (os.environ.get('USER') or 'postgres')
        self.postgis = postgis
        self.settings = {
            'listen_addresses': "'127.0.0.1'",
            'unix_socket_directories': "'%s'" % self.dir,
            'fsync': 'on',
            'max_connections': '200',
            'shared_buffers': '128MB',
            'log_min_messages': 'warning',
        }
        self.settings.update(settings or {})
        self.started = False
        if self.root:
            _ensure_user()
            import pwd
            pw = pwd.getpwnam(TEST_USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        atexit.register(self.cleanup)

    # -- helpers
    def _run(self, argv, check=True, **kw):
        if self.root:
            argv = ['runuser', '-u', TEST_USER, '--'] + argv
        r = subprocess.run(argv, capture_output=True, text=True, **kw)
        if check and r.returncode != 0:
            raise RuntimeError('%s failed (%d): %s%s' % (' '.join(argv), r.returncode,
                                                          r.stdout, r.stderr))
        return r

    @property
    def conninfo(self):
        return 'host=127.0.0.1 port=%d dbname=%s user=%s connect_timeout=2' % (
            self.port, self.dbname, self.user)

    @property
    def url(self):
        return 'postgresql://%s@127.0.0.1:%d/%s' % (self.user, self.port, self.dbname)

    def pid(self):
        """The postmaster's pid, or None."""
        try:
            with open(os.path.join(self.data, 'postmaster.pid')) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    # -- lifecycle
    def init(self):
        self._run([os.path.join(PG_BINDIR, 'initdb'), '-D', self.data, '-U', self.user,
                   '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'])
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            for k, v in self.settings.items():
                f.write('%s = %s\n' % (k, v))

    def start(self, timeout=60):
        if not os.path.exists(self.data):
            self.init()
            first = True
        else:
            first = False
        self._run([os.path.join(PG_BINDIR, 'pg_ctl'), '-D', self.data, '-l', self.log,
                   '-o', '-p %d' % self.port, '-w', '-t', str(timeout), 'start'])
        self.started = True
        if first:
            self.psql('CREATE DATABASE %s' % self.dbname, db='postgres')
            if self.postgis:
                self.psql('CREATE EXTENSION IF NOT EXISTS postgis')
        return self

    def stop(self, mode='fast'):
        if self.started and self.pid():
            self._run([os.path.join(PG_BINDIR, 'pg_ctl'), '-D', self.data, '-m', mode,
                       '-w', '-t', '60', 'stop'], check=False)
        self.started = False

    def restart(self):
        self.stop()
        return self.start()

    def kill9(self):
        """SIGKILL the postmaster and its children (a crash); start() recovers."""
        pid = self.pid()
        if pid:
            kids = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True,
                                  text=True).stdout.split()
            for p in [pid] + [int(k) for k in kids]:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
        self.started = False

    def cleanup(self):
        try:
            self.stop('immediate')
        finally:
            if '1' not in (os.environ.get('PGTEMP_KEEP'), os.environ.get('SIKHNAS_KEEP_TMP')):
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- queries
    def psql(self, sql, db=None, check=True):
        """Runs sql with psql -At (tuples only, | separated); returns stdout."""
        r = subprocess.run(['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1',
                            '-h', '127.0.0.1', '-p', str(self.port), '-U', self.user,
                            '-d', db or self.dbname, '-c', sql],
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError('psql failed: %s\n%s' % (sql[:200], r.stderr))
        return r.stdout.strip()

    def scalar(self, sql):
        out = self.psql(sql)
        return int(out) if out.lstrip('-').isdigit() else out


class Standby(PgTemp):
    """A hot standby of primary (a PgTemp that is running), made with
    pg_basebackup -R: it streams the primary's WAL and answers read-only
    queries. Used where a read replica matters (tests/analyst/)."""

    def __init__(self, primary, settings=None):
        super().__init__(dbname=primary.dbname, postgis=False, settings=settings)
        self.primary = primary

    def init(self):
        self._run([os.path.join(PG_BINDIR, 'pg_basebackup'), '-h', '127.0.0.1',
                   '-p', str(self.primary.port), '-U', self.primary.user, '-D', self.data,
                   '-R', '-X', 'stream', '-c', 'fast'])
        with open(os.path.join(self.data, 'postgresql.conf'), 'a') as f:
            for k, v in self.settings.items():
                f.write('%s = %s\n' % (k, v))
            f.write('hot_standby = on\n')

    def start(self, timeout=60):
        if not os.path.exists(self.data):
            self.init()
        self._run([os.path.join(PG_BINDIR, 'pg_ctl'), '-D', self.data, '-l', self.log,
                   '-o', '-p %d' % self.port, '-w', '-t', str(timeout), 'start'])
        self.started = True
        return self

    def wait_caught_up(self, timeout=30):
        """Waits until the standby has replayed what the primary wrote so far."""
        lsn = self.primary.psql('SELECT pg_current_wal_lsn()')
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.psql("SELECT pg_last_wal_replay_lsn() >= '%s'" % lsn) == 't':
                return
            time.sleep(0.05)
        raise RuntimeError('standby did not catch up within %d s' % timeout)


if __name__ == '__main__':
    with PgTemp() as pg:
        print(pg.conninfo)
        print(pg.psql('SELECT postgis_version()'))
