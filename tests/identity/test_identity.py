#!/usr/bin/env python3
"""test_identity.py - node identity and access against the real sikhnas-hub,
a real PostgreSQL 15 + PostGIS (tests/lib/pgtemp.py) and real TLS: the
happy path (node add -> enroll -> sync -> renew at 2/3 of the lifetime) and
one test per refusal path. Every refusal checks the status and message, that
the central tables are unchanged (counted), and that security_audit has the
refusal with its reason.

usage: test_identity.py NODE_EXE HUB_EXE [-k NAME]   (exit status 0 = all passed)

The hub signs certificates valid for LIFETIME seconds, so that renewal and
expiry happen within the test."""
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import e2elib  # noqa: E402
from e2elib import hubtest, nodetest  # noqa: E402
from hubtest import CASE_COLS, case_row, encode_batch, uuid7  # noqa: E402

NODE_EXE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else 'sikhnas-node'
HUB_EXE = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else 'sikhnas-hub'
os.environ['SIKHNAS_HUB'] = HUB_EXE
LIFETIME = 12
TMP = nodetest.scratch('sikhnas-identity-')   # removed at exit (SIKHNAS_KEEP_TMP=1 keeps it)
ENV = None
D = '3201'


# ------------------------------------------------------------ helpers

def counts():
    """What a refused request must not change."""
    return ENV.pg.psql(
        "SELECT (SELECT count(*) FROM case_report), (SELECT count(*) FROM node), "
        "(SELECT count(*) FROM node_cert), (SELECT count(*) FROM push_refusal), "
        "(SELECT count(*) FROM enrol_token WHERE used_at IS NOT NULL), "
        "(SELECT count(*) FROM node_registration WHERE node_id IS NOT NULL)")


def audited(reason_prefix):
    return ENV.pg.scalar("SELECT count(*) FROM security_audit WHERE event = 'refuse' "
                         "AND reason LIKE '%s%%'" % reason_prefix)


def expect_refusal(fn, status, code, reason=None):
    """Runs fn() -> (status, json); checks the answer, the unchanged central
    rows and the audit row."""
    before, audit0 = counts(), audited(code)
    st, js = fn()
    assert st == status, (st, js)
    assert isinstance(js, dict) and js.get('error') == code and js.get('message'), js
    if reason:
        assert reason in js['message'], js
    assert counts() == before, 'central rows changed: %s -> %s' % (before, counts())
    deadline = time.time() + 5        # the audit row is written beside the answer
    while audited(code) == audit0 and time.time() < deadline:
        time.sleep(0.05)
    assert audited(code) == audit0 + 1, 'refusal %s not audited' % code
    return js


def push_with(conn_or_cert, node, rows, last_seq, extra=None, body_hook=None):
    body, h = encode_batch(node, last_seq, {'case_report': (CASE_COLS, rows)})
    if body_hook:
        body = body_hook(body)
    h.update(extra or {})
    if isinstance(conn_or_cert, tuple) or conn_or_cert is None:
        c = ENV.hub.connection(cert=conn_or_cert)
        try:
            st, _, js = ENV.hub.request('POST', '/v1/push', body, h, conn=c)
        finally:
            c.close()
    else:
        st, _, js = ENV.hub.request('POST', '/v1/push', body, h, conn=conn_or_cert)
    return st, js


def post_json(path, doc, cert=None, port=None):
    c = ENV.hub.connection(port=port, cert=cert)
    try:
        st, _, js = ENV.hub.request('POST', path, json.dumps(doc).encode(),
                                    {'Content-Type': 'application/json'}, conn=c)
    finally:
        c.close()
    return st, js


def new_node(district=D):
    return nodetest.Node(NODE_EXE, district=district, tmp=tempfile.mkdtemp(dir=TMP))


def node_add(name, district=D, *extra):
    return ENV.hub.run_cmd('node', 'add', '--district', district, '--name', name,
                           *extra).stdout.strip()


def make_csr(node, extra_subj='', size_pad=0):
    d = tempfile.mkdtemp(dir=TMP)
    key, csr = os.path.join(d, 'k.pem'), os.path.join(d, 'r.csr')
    args = ['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
            '-nodes', '-keyout', key, '-subj', '/CN=%s%s' % (node, extra_subj), '-out', csr]
    if size_pad:
        args += ['-addext', 'subjectAltName=' + ','.join('DNS:pad%05d.example.org' % i
                                                         for i in range(size_pad))]
    subprocess.run(args, check=True, capture_output=True)
    return open(csr).read(), key


def sync(node, *extra):
    return node.run('sync', '--no-progress', '--retries', '0', *extra, timeout=120)


def serial_of(path):
    out = subprocess.run(['openssl', 'x509', '-in', path, '-noout', '-serial'],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split('=')[1].lower().lstrip('0')


# ------------------------------------------------------------ happy path

def test_enrol_sync_renew():
    """node add -> enroll -> sync with no flags -> renewal at 2/3 -> sync."""
    node = new_node()
    token = node_add('bogor-1')
    assert len(token) == 48 and ENV.pg.scalar(
        "SELECT count(*) FROM enrol_token WHERE token_sha256 = '%s'"
        % hashlib.sha256(token.encode()).hexdigest()) == 1
    assert ENV.pg.scalar("SELECT count(*) FROM enrol_token WHERE token_sha256 = '%s'"
                         % token) == 0, 'the token itself is stored'
    r = node.run('enroll', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port, '--token', token,
                 '--ca', ENV.hub.ca)
    assert r.returncode == 0, r.stderr
    t_enrol = time.time()
    assert os.stat(node.db + '.key').st_mode & 0o777 == 0o600
    assert os.path.exists(node.db + '.crt') and os.path.exists(node.db + '.hub-ca.pem')
    for i in range(5):
        assert node.add_report(e2elib.report(i=i)).returncode == 0
    r = sync(node)                                  # no --hub, no --ca
    assert r.returncode == 0, r.stderr
    nid = node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
    assert e2elib.pg_counts(ENV.pg, nid)[0] == 5
    assert ENV.pg.scalar("SELECT count(*) FROM security_audit WHERE event = 'enrol' AND "
                         "node_id = '%s'" % nid) == 1
    first = serial_of(node.db + '.crt')
    # not yet at 2/3 of the lifetime: no renewal
    assert ENV.pg.scalar("SELECT count(*) FROM node_cert WHERE node_id = '%s'" % nid) == 1
    time.sleep(max(0, t_enrol + LIFETIME * 2 / 3 + 1 - time.time()))
    assert node.add_report(e2elib.report(i=9)).returncode == 0
    r = sync(node)
    assert r.returncode == 0, r.stderr
    assert 'renewed' in r.stderr, r.stderr
    second = serial_of(node.db + '.crt')
    assert second != first
    assert ENV.pg.psql("SELECT via FROM node_cert WHERE serial = '%s'" % second) == 'renew'
    assert ENV.pg.scalar("SELECT count(*) FROM security_audit WHERE event = 'renew' AND "
                         "serial = '%s'" % second) == 1
    assert e2elib.pg_counts(ENV.pg, nid)[0] == 6
    # the renewed certificate is the one in use now
    r = sync(node)
    assert r.returncode == 0, r.stderr


def test_expired_certificate():
    """An expired certificate is refused; only a fresh enrolment replaces it."""
    node = new_node()
    token = node_add('bogor-expiring')
    e2elib.enroll_with(ENV, node, token)
    assert node.add_report(e2elib.report(i=1)).returncode == 0
    na = ENV.pg.scalar("SELECT extract(epoch FROM max(not_after))::bigint FROM node_cert "
                       "WHERE name = 'bogor-expiring'")
    time.sleep(max(0, na + 1 - time.time()))
    nid = node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
    before = counts()
    r = sync(node)
    assert r.returncode != 0 and 'expired' in r.stderr and 'enrol' in r.stderr, r.stderr
    assert counts() == before
    # the hub refuses it too, whatever the node thinks
    cert = (node.db + '.crt', node.db + '.key')
    rows = [case_row(1, nid)]
    expect_refusal(lambda: push_with(cert, nid, rows, 1), 401, 'certificate_expired', 'enrol')
    expect_refusal(lambda: post_json('/v1/renew', {'csr': make_csr(nid)[0]}, cert=cert), 401,
                   'certificate_expired')
    # a new token for the same registration: enrolment again, then sync works
    e2elib.enroll_with(ENV, node, node_add('bogor-expiring'))
    r = sync(node)
    assert r.returncode == 0, r.stderr
    assert e2elib.pg_counts(ENV.pg, nid)[0] == 1


# ------------------------------------------------------------ names are data, never SQL

QUOTED = "Kab. O'Brien \\ 1"        # a quote and a backslash: Kab. O'Brien \ 1


def node_list(name):
    """The `node list` rows (tab-separated fields) of registration name."""
    out = ENV.hub.run_cmd('node', 'list').stdout.splitlines()
    assert out[0] == 'name\tdistrict\tnode_id\tstate\tcert_not_after', out[0]
    return [ln.split('\t') for ln in out[1:] if ln.split('\t')[0] == name]


def sql_text(s):
    """s as an SQL expression that no quoting can get wrong (hex of UTF-8)."""
    return "convert_from(decode('%s', 'hex'), 'UTF8')" % s.encode().hex()


def test_name_with_quote_and_backslash():
    """A registration name that naive quoting would break goes through node
    add, node list, enrol, sync, a refusal, revoke and node add again, and
    comes back byte for byte in the registry, the certificates, the node
    table, every audit row and the messages."""
    name, by_name = QUOTED, sql_text(QUOTED)
    assert "'" in name and '\\' in name
    token = node_add(name)
    assert len(token) == 48, token
    assert node_list(name) == [[name, D, '-', 'registered', '-']], node_list(name)
    assert ENV.pg.psql("SELECT name FROM node_registration WHERE name = %s" % by_name) == name
    assert ENV.pg.psql("SELECT name || '|' || reason FROM security_audit WHERE event = "
                       "'register' AND name = %s" % by_name) == name + '|token issued, valid 72 h'
    node = new_node()
    e2elib.enroll_with(ENV, node, token)
    nid = node.sql("SELECT value FROM meta WHERE key = 'node_id'")[0][0]
    for table in ('node_cert', 'node'):
        assert ENV.pg.psql("SELECT name FROM %s WHERE node_id = '%s'" % (table, nid)) == name
    assert ENV.pg.psql("SELECT name || '|' || endpoint FROM security_audit WHERE event = "
                       "'enrol' AND node_id = '%s'" % nid) == name + '|enroll'
    rows = node_list(name)
    assert len(rows) == 1 and rows[0][:4] == [name, D, nid, 'enrolled'], rows
    # the spent token again: the refusal's audit row names the registration
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc(token)), 403, 'token_used')
    assert ENV.pg.psql("SELECT name FROM security_audit WHERE event = 'refuse' AND reason "
                       "LIKE 'token_used:%' ORDER BY id DESC LIMIT 1") == name
    assert node.add_report(e2elib.report(i=1)).returncode == 0
    r = sync(node)                      # the registry look-up finds the certificate's name
    assert r.returncode == 0, r.stderr
    ENV.hub.run_cmd('node', 'revoke', name)
    assert ENV.pg.psql("SELECT name || '|' || node_id FROM security_audit WHERE event = "
                       "'revoke' AND name = %s" % by_name) == name + '|' + nid
    assert node_list(name)[0][3] == 'revoked', node_list(name)
    assert node.add_report(e2elib.report(i=2)).returncode == 0
    r = sync(node)
    assert r.returncode != 0 and 'revoked' in r.stderr, r.stderr
    msg = "revoked: the certificate of node '%s' has been revoked" % name
    assert ENV.pg.psql("SELECT reason FROM security_audit WHERE event = 'refuse' AND "
                       "node_id = '%s' ORDER BY id DESC LIMIT 1" % nid) == msg
    r = subprocess.run([HUB_EXE, '--pg', ENV.pg.conninfo, 'node', 'add', '--district', D,
                        '--name', name], capture_output=True, text=True)
    assert r.returncode == 1 and "'%s' was revoked" % name in r.stderr, r.stderr
    assert ENV.pg.scalar("SELECT count(*) FROM node_registration WHERE name LIKE 'Kab. O%'") == 1


# ------------------------------------------------------------ refusals: certificates

def test_no_client_certificate():
    node = uuid7()
    expect_refusal(lambda: push_with(None, node, [case_row(1, node)], 1), 401,
                   'certificate_required', 'enrol')
    c = ENV.hub.connection()
    try:
        before = counts()
        st, _, js = ENV.hub.request('POST', '/v1/pull', b'{"v":1,"cursor":""}', {}, conn=c)
        assert st == 401 and js['error'] == 'certificate_required', (st, js)
        assert counts() == before
    finally:
        c.close()


def test_certificate_from_another_ca():
    other = tempfile.mkdtemp(dir=TMP)
    subprocess.run([HUB_EXE, 'ca', 'init', '--dir', other], check=True, capture_output=True)
    node = uuid7()
    key, crt = os.path.join(other, 'n.key'), os.path.join(other, 'n.pem')
    # a perfect subject, and even the serial of a registered certificate
    good_crt, _ = ENV.hub.node_cert(node, D)
    serial = serial_of(good_crt)
    subprocess.run(['openssl', 'req', '-new', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj',
                    '/O=Sikhnas Edge/OU=%s/CN=%s' % (D, node), '-CA',
                    os.path.join(other, 'ca.pem'), '-CAkey', os.path.join(other, 'ca.key'),
                    '-days', '1', '-set_serial', '0x' + serial, '-out', crt],
                   check=True, capture_output=True)
    expect_refusal(lambda: push_with((crt, key), node, [case_row(1, node)], 1), 401,
                   'certificate_untrusted')


def test_revoked_also_on_an_open_connection():
    node = uuid7()
    cert = ENV.hub.node_cert(node, D)
    conn = ENV.hub.connection(cert=cert)
    try:
        st, js = push_with(conn, node, [case_row(1, node)], 1)
        assert st == 200, js
        ENV.hub.run_cmd('node', 'revoke', node)          # the fixture names it by its id
        assert ENV.pg.scalar("SELECT count(*) FROM security_audit WHERE event = 'revoke' "
                             "AND name = '%s'" % node) == 1
        # the same kept-alive TLS connection: refused on its next request
        expect_refusal(lambda: push_with(conn, node, [case_row(2, node)], 2), 403, 'revoked')
        expect_refusal(lambda: ENV.hub.request('POST', '/v1/pull', b'{"v":1,"cursor":""}', {},
                                               conn=conn)[::2], 403, 'revoked')
    finally:
        conn.close()
    # and on a new one
    expect_refusal(lambda: push_with(cert, node, [case_row(2, node)], 2), 403, 'revoked')
    assert ENV.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node) == 1
    # revoking something unknown is an error, not a silent success
    r = subprocess.run([HUB_EXE, '--pg', ENV.pg.conninfo, 'node', 'revoke', 'no-such-node'],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'no-such-node' in r.stderr, r.stderr


def test_write_outside_the_district():
    node = uuid7()
    cert = ENV.hub.node_cert(node, D)
    # a request that claims another district than its certificate cannot start
    expect_refusal(lambda: push_with(cert, node, [case_row(1, node, village='3202011001')], 1,
                                     extra={'X-Sikhnas-District': '3202'}),
                   403, 'district_mismatch', '3201')
    # the body's node must be the certificate's
    other = uuid7()
    before = counts()
    body, h = encode_batch(other, 1, {'case_report': (CASE_COLS, [case_row(1, other)])})
    c = ENV.hub.connection(cert=cert)
    try:
        st, _, js = ENV.hub.request('POST', '/v1/push', body, h, conn=c)
    finally:
        c.close()
    assert st == 400 and js['error'] == 'bad_batch', (st, js)
    assert counts() == before
    # a row for a village of another district is refused by the row check:
    # not written, and the refusal said back to the node
    st, js = push_with(cert, node, [case_row(1, node, village='3202011001')], 1)
    assert st == 200 and len(js['refused']) == 1, js
    assert js['refused'][0]['code'] in ('village_outside_district', 'outside_district') or \
        'district' in js['refused'][0]['reason'], js
    assert ENV.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node) == 0


def test_tampered_body_digest():
    node = uuid7()
    cert = ENV.hub.node_cert(node, D)

    def flip(body):
        b = bytearray(body)
        b[len(b) // 2] ^= 1
        return bytes(b)
    before = counts()
    st, js = push_with(cert, node, [case_row(1, node)], 1, body_hook=flip)
    assert st == 400 and js['error'] == 'digest_mismatch', (st, js)
    assert counts() == before
    # audited, with the node and its address; a flood gets one row a minute
    rows = "SELECT address, endpoint, reason FROM security_audit WHERE event = 'refuse' " \
           "AND node_id = '%s' AND reason LIKE 'digest_mismatch:%%'" % node
    deadline = time.time() + 5
    while not ENV.pg.psql(rows) and time.time() < deadline:
        time.sleep(0.05)
    got = ENV.pg.psql(rows).splitlines()
    assert len(got) == 1 and got[0].startswith('127.0.0.1|push|digest_mismatch: '), got
    for _ in range(5):
        st, js = push_with(cert, node, [case_row(1, node)], 1, body_hook=flip)
        assert st == 400 and js['error'] == 'digest_mismatch', (st, js)
    time.sleep(0.5)
    assert len(ENV.pg.psql(rows).splitlines()) == 1, ENV.pg.psql(rows)
    assert counts() == before


def test_tls11_client():
    warnings.simplefilter('ignore', DeprecationWarning)        # TLS 1.1 on purpose
    node = uuid7()
    cert = ENV.hub.node_cert(node, D)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ENV.hub.ca)
    ctx.load_cert_chain(*cert)
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    before = counts()
    with socket.create_connection(('127.0.0.1', ENV.hub.port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as tls:
                raise AssertionError('TLS 1.1 handshake succeeded: %s' % tls.version())
        except (ssl.SSLError, ConnectionResetError) as e:
            assert 'version' in str(e).lower() or 'protocol' in str(e).lower() or \
                'handshake' in str(e).lower() or isinstance(e, ConnectionResetError), e
    assert counts() == before


# ------------------------------------------------------------ refusals: enrolment

def enrol_doc(token, node=None, district=D, csr=None):
    node = node or uuid7()
    return {'v': 1, 'token': token, 'district': district, 'csr': csr or make_csr(node)[0]}


def test_token_reused():
    token = node_add('reuse-1')
    node = new_node()
    e2elib.enroll_with(ENV, node, token)
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc(token)), 403, 'token_used')
    # the node's own CLI says so too
    node2 = new_node()
    r = node2.run('enroll', '--hub', 'https://127.0.0.1:%d' % ENV.hub.port, '--token', token,
                  '--ca', ENV.hub.ca)
    assert r.returncode != 0 and 'token_used' in r.stderr, r.stderr
    assert not os.path.exists(node2.db + '.crt')


def test_token_expired():
    token = node_add('expired-1', D, '--token-hours', '1')
    # an hour passes
    ENV.pg.psql("UPDATE enrol_token SET expires_at = now() - interval '1 second' "
                "WHERE name = 'expired-1'")
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc(token)), 403, 'token_expired')


def test_token_for_another_district():
    token = node_add('cianjur-1', '3202')
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc(token, district=D)), 403,
                   'token_wrong_district', '3202')
    # unknown and malformed tokens
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc('ab' * 24)), 403, 'token_invalid')
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc('not-a-token')), 403,
                   'token_invalid')
    # the token is still good for a node of its district
    st, js = post_json('/v1/enroll', enrol_doc(token, district='3202'))
    assert st == 200 and js['district'] == '3202' and 'BEGIN CERTIFICATE' in js['certificate'], js


def test_oversize_csr():
    token = node_add('oversize-1')
    node = uuid7()
    csr, _ = make_csr(node, size_pad=200)
    assert 4096 < len(csr) < 16000, len(csr)
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc(token, node, csr=csr)), 413,
                   'csr_too_large')
    # a CSR whose signature does not verify
    good, _ = make_csr(node)
    lines = good.splitlines()
    mid = len(lines) // 2
    lines[mid] = lines[mid][:10] + ('A' if lines[mid][10] != 'A' else 'B') + lines[mid][11:]
    expect_refusal(lambda: post_json('/v1/enroll', enrol_doc(token, node,
                                                             csr='\n'.join(lines) + '\n')),
                   400, 'bad_csr')
    # the token was not spent by the refusals
    st, js = post_json('/v1/enroll', enrol_doc(token, node, csr=good))
    assert st == 200 and js['node'] == node, js


def test_enrolment_rate_limit():
    """A second hub on the same database allowing 2 attempts a minute."""
    strict = second_hub(ENV.hub.nodeca, enroll_rate=2)
    try:
        for _ in range(2):
            st, js = post_json('/v1/enroll', enrol_doc('ab' * 24), port=strict.port)
            assert st == 403, js
        expect_refusal(lambda: post_json('/v1/enroll', enrol_doc('ab' * 24), port=strict.port),
                       429, 'rate_limited')
    finally:
        strict.stop()


def second_hub(nodeca, **kw):
    """Another hub on the same database (the same TLS certificate), trusting
    the client CAs in nodeca and signing with ca.key beside that file."""
    d = tempfile.mkdtemp(dir=TMP)
    for f in ('ca.pem', 'server.pem', 'server.key'):
        os.symlink(os.path.join(ENV.hub.dir, f), os.path.join(d, f))
    hub = hubtest.Hub(HUB_EXE, ENV.pg.conninfo, d, conns=1, **kw)
    hub.nodeca = nodeca
    return hub.start()


def test_ca_rotation():
    """security.md's procedure: trust old + new CA and sign with the new
    one; old certificates keep working, new ones come from the new CA; then
    drop the old CA and its certificates are refused."""
    new = tempfile.mkdtemp(dir=TMP)
    subprocess.run([HUB_EXE, 'ca', 'init', '--dir', new], check=True, capture_output=True)
    both = tempfile.mkdtemp(dir=TMP)
    with open(os.path.join(both, 'ca.pem'), 'w') as f:
        f.write(open(ENV.hub.nodeca).read() + open(os.path.join(new, 'ca.pem')).read())
    os.symlink(os.path.join(new, 'ca.key'), os.path.join(both, 'ca.key'))
    old_node = uuid7()
    old_cert = ENV.hub.node_cert(old_node, D)
    hub = second_hub(os.path.join(both, 'ca.pem'))
    try:
        c = hub.connection(cert=old_cert)
        try:
            body, h = encode_batch(old_node, 1, {'case_report': (CASE_COLS,
                                                                 [case_row(1, old_node)])})
            st, _, js = hub.request('POST', '/v1/push', body, h, conn=c)
            assert st == 200, js
        finally:
            c.close()
        node = uuid7()
        csr, key = make_csr(node)
        st, js = post_json('/v1/enroll', enrol_doc(node_add('rotated-1'), node, csr=csr),
                           port=hub.port)
        assert st == 200, js
        crt = os.path.join(TMP, node + '.pem')
        with open(crt, 'w') as f:
            f.write(js['certificate'])
        v = subprocess.run(['openssl', 'verify', '-CAfile', os.path.join(new, 'ca.pem'), crt],
                           capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    finally:
        hub.stop()
    hub = second_hub(os.path.join(new, 'ca.pem'))
    try:
        st, _, js = hub.request('POST', '/v1/pull', b'{"v":1,"cursor":""}', {},
                                conn=hub.connection(cert=(crt, key)))
        assert st == 200, js
        st, _, js = hub.request('POST', '/v1/pull', b'{"v":1,"cursor":""}', {},
                                conn=hub.connection(cert=old_cert))
        assert st == 401 and js['error'] == 'certificate_untrusted', (st, js)
    finally:
        hub.stop()


# ------------------------------------------------------------ certificate encoding

ECDSA_SHA256 = bytes.fromhex('06082a8648ce3d040302')     # OID 1.2.840.10045.4.3.2, as TLV


def der_items(b):
    """The TLVs of DER contents b: [(tag, whole TLV, contents)]."""
    out, i = [], 0
    while i < len(b):
        tag, n = b[i], b[i + 1]
        j = i + 2
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(b[j:j + k], 'big')
            j += k
        out.append((tag, b[i:j + n], b[j:j + n]))
        i = j + n
    return out


def pem_der(pem):
    import base64
    body = pem.split('-----BEGIN CERTIFICATE-----')[1].split('-----END CERTIFICATE-----')[0]
    return base64.b64decode(''.join(body.split()))


def signature_algorithms(pem):
    """(tbsCertificate.signature, Certificate.signatureAlgorithm) as the
    TLVs inside each AlgorithmIdentifier SEQUENCE."""
    (tag, _, cert), = der_items(pem_der(pem))
    assert tag == 0x30
    tbs, alg, sig = der_items(cert)
    version, serial, tbs_alg = der_items(tbs[2])[:3]
    assert version[0] == 0xa0 and serial[0] == 0x02 and tbs_alg[0] == 0x30 and alg[0] == 0x30
    return ([t[1] for t in der_items(tbs_alg[2])], [t[1] for t in der_items(alg[2])])


def test_certificate_signature_algorithm_has_no_parameters():
    """RFC 5758 §3.2: ecdsa-with-SHA256 without parameters (no NULL), in the
    TBS and around it, for node certificates and the CA's own; openssl and
    the node (mbedTLS, by the enrolment and sync tests) still accept them."""
    node = uuid7()
    csr, _ = make_csr(node)
    st, js = post_json('/v1/enroll', enrol_doc(node_add('encoding-1'), node, csr=csr))
    assert st == 200, js
    crt = os.path.join(TMP, 'encoding-1.pem')
    with open(crt, 'w') as f:
        f.write(js['certificate'])
    for what, pem in (('node certificate', js['certificate']),
                      ('CA certificate', open(ENV.hub.nodeca).read())):
        tbs_alg, alg = signature_algorithms(pem)
        assert tbs_alg == [ECDSA_SHA256] and alg == [ECDSA_SHA256], (what, tbs_alg, alg)
    text = subprocess.run(['openssl', 'asn1parse', '-in', crt], capture_output=True,
                          text=True, check=True).stdout
    assert 'ecdsa-with-SHA256' in text and 'NULL' not in text, text
    v = subprocess.run(['openssl', 'verify', '-x509_strict', '-CAfile', ENV.hub.nodeca, crt],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr


TESTS = [test_enrol_sync_renew, test_expired_certificate, test_name_with_quote_and_backslash,
         test_no_client_certificate,
         test_certificate_from_another_ca, test_revoked_also_on_an_open_connection,
         test_write_outside_the_district, test_tampered_body_digest, test_tls11_client,
         test_token_reused, test_token_expired, test_token_for_another_district,
         test_oversize_csr, test_enrolment_rate_limit, test_ca_rotation,
         test_certificate_signature_algorithm_has_no_parameters]


def main():
    global ENV
    args = sys.argv[3:]
    only = args[args.index('-k') + 1] if '-k' in args else None
    failed = 0
    ENV = hubtest.Env(lifetime=LIFETIME)
    try:
        for t in TESTS:
            if only and only not in t.__name__:
                continue
            t0 = time.time()
            try:
                t()
                print('ok   %-50s %.1fs' % (t.__name__, time.time() - t0), flush=True)
            except Exception:           # noqa: BLE001 - report and go on
                failed += 1
                print('FAIL %s' % t.__name__, flush=True)
                traceback.print_exc()
                print('--- hub log tail:\n' + open(ENV.hub.log).read()[-3000:], flush=True)
    finally:
        ENV.close()
    print('%d failed' % failed if failed else 'all passed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
