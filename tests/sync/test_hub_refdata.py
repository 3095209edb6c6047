#!/usr/bin/env python3
"""test_hub_refdata.py - the hub's copy of the code lists and villages
(hub/hub_refcache.c) and the direct path it allows (hub/hub_direct.c),
against the real sikhnas-hub, PostgreSQL 15 + PostGIS and TLS: a code or
a village added or removed centrally between two batches, two hub
instances on one database, and a batch that mixes new rows (one COPY into
the table) with updates, refusals and a foreign origin (the SQL way), whose
answer, ledger and stored rows must be exact.

usage: test_hub_refdata.py [SIKHNAS_HUB_EXE] [-k NAME]   (exit status 0 = all passed)"""
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubtest  # noqa: E402
from hubtest import CASE_COLS, case_row, uuid7  # noqa: E402
from test_hub_write import check, push_cases, refusals  # noqa: E402

D = '3201'
NEW_VILLAGE = '3201011999'


def directly(env, node):
    """The rows the hub's debug log says went in directly for node."""
    n = 0
    with open(env.hub.log, errors='replace') as f:
        for line in f:
            if 'push %s:' % node in line and 'directly)' in line:
                n += int(line.split('applied (')[1].split(' ')[0])
    return n


def test_code_added_and_removed_between_batches(env):
    """A code added centrally is known to the next batch; a code removed is
    refused by the next batch, with the same answer as the SQL checks give."""
    node = uuid7()
    st, js = push_cases(env, node, [case_row(1, node, signs=['ZZQ'])], 1)
    check(st == 200 and refusals(js) == {1: ('unknown_code',
                                             'unknown sign code in signs ["ZZQ"]')}, js)
    env.pg.psql("INSERT INTO code_list (list, code, label_id, label_en) "
                "VALUES ('sign', 'ZZQ', 'uji', 'test'), ('species', 'QQ', 'uji', 'test')")
    st, js = push_cases(env, node, [case_row(2, node, signs=['ZZQ']),
                                    case_row(3, node, animals=[{'species': 'QQ', 'sick': 1,
                                                                'at_risk': 2}])], 3)
    check(st == 200 and js['applied'] == 2 and not js['refused'], js)
    check(directly(env, node) == 2, 'the new rows went in directly')
    env.pg.psql("DELETE FROM code_list WHERE (list, code) IN (('sign', 'ZZQ'), ('species', 'QQ'))")
    st, js = push_cases(env, node, [case_row(4, node, signs=['ZZQ']),
                                    case_row(5, node, animals=[{'species': 'QQ', 'sick': 1,
                                                                'at_risk': 2}])], 5)
    check(st == 200 and js['applied'] == 0, js)
    check(refusals(js) == {4: ('unknown_code', 'unknown sign code in signs ["ZZQ"]'),
                           5: ('unknown_code', 'unknown species in animals '
                                               '[{"sick": 1, "at_risk": 2, "species": "QQ"}]')},
          js)


def test_village_added_and_removed_between_batches(env):
    node = uuid7()
    st, js = push_cases(env, node, [case_row(1, node, village=NEW_VILLAGE)], 1)
    check(st == 200 and refusals(js) == {1: ('unknown_area', 'unknown village ' + NEW_VILLAGE)},
          js)
    env.pg.psql("INSERT INTO area (code, level, parent_code, name) "
                "SELECT '%s', 4, parent_code, 'Desa Uji' FROM area WHERE code = '3201011001'"
                % NEW_VILLAGE)
    st, js = push_cases(env, node, [case_row(2, node, village=NEW_VILLAGE)], 2)
    check(st == 200 and js['applied'] == 1 and not js['refused'], js)
    check(directly(env, node) == 1, 'the new row went in directly')
    env.pg.psql("DELETE FROM case_report WHERE village = '%s'; DELETE FROM area WHERE code = '%s'"
                % (NEW_VILLAGE, NEW_VILLAGE))
    st, js = push_cases(env, node, [case_row(3, node, village=NEW_VILLAGE)], 3)
    check(st == 200 and refusals(js) == {3: ('unknown_area', 'unknown village ' + NEW_VILLAGE)},
          js)


def test_two_hub_instances(env):
    """Each hub keeps its own copy; each batch reads the version in its own
    transaction, so a change made through neither hub reaches both."""
    other_dir = os.path.join(env.pg.dir, 'hub2')
    os.makedirs(other_dir, exist_ok=True)
    other = hubtest.Hub(hubtest.hub_exe(), env.pg.conninfo, other_dir, conns=2)
    other.start()
    try:
        a, b = uuid7(), uuid7()

        def push_b(rows, last_seq):
            body, h = hubtest.encode_batch(b, last_seq, {'case_report': (CASE_COLS, rows)})
            h.update(hubtest.ident(b, D))
            st, _, js = other.request('POST', '/v1/push', body, h)
            return st, js
        env.pg.psql("INSERT INTO code_list (list, code, label_id, label_en) "
                    "VALUES ('sign', 'ZZR', 'uji', 'test')")
        st, js = push_cases(env, a, [case_row(1, a, signs=['ZZR'])], 1)     # hub A knows it
        check(st == 200 and js['applied'] == 1, js)
        st, js = push_b([case_row(1, b, signs=['ZZR'])], 1)                  # so does hub B
        check(st == 200 and js['applied'] == 1, js)
        env.pg.psql("DELETE FROM code_list WHERE list = 'sign' AND code = 'ZZR'")
        st, js = push_b([case_row(2, b, signs=['ZZR'])], 2)
        check(st == 200 and refusals(js) == {2: ('unknown_code',
                                                 'unknown sign code in signs ["ZZR"]')}, js)
        st, js = push_cases(env, a, [case_row(2, a, signs=['ZZR'])], 2)     # A's copy is old
        check(st == 200 and refusals(js) == {2: ('unknown_code',
                                                 'unknown sign code in signs ["ZZR"]')}, js)
        env.pg.psql("INSERT INTO code_list (list, code, label_id, label_en) "
                    "VALUES ('sign', 'ZZR', 'uji', 'test')")
        st, js = push_b([case_row(3, b, signs=['ZZR'])], 3)
        check(st == 200 and js['applied'] == 1 and not js['refused'], js)
        env.pg.psql("DELETE FROM code_list WHERE list = 'sign' AND code = 'ZZR'")
    finally:
        other.stop()


def test_mixed_batch_is_exact(env):
    """New rows go in directly; an update of a stored row, refusals and a
    new row of another origin go the SQL way; the answer, the ledger and the
    stored rows are what the SQL way alone gave."""
    node = uuid7()
    first = [case_row(1, node), case_row(2, node)]
    st, js = push_cases(env, node, first, 2)
    check(st == 200 and js['applied'] == 2, js)
    upd = case_row(3, node, rid=first[0][1], note='diperbarui', lon=107.25, lat=-6.5)
    rows = [upd,
            case_row(4, node, lon=106.123456789, lat=-6.987654321),     # new: directly
            case_row(5, node, signs=['NOPE']),                          # refused
            case_row(6, node, origin=uuid7()),                          # new, another origin
            case_row(7, node, lon=None, lat=None),                      # new, no point
            case_row(8, node, kind='P', syndrome='MMD')]                # new, priority
    st, js = push_cases(env, node, rows, 8)
    check(st == 200 and js['applied'] == 4, js)
    ref = refusals(js)
    check(sorted(ref) == [5, 6] and ref[5][0] == 'unknown_code' and ref[6][0] == 'bad_origin',
          ref)
    check(directly(env, node) == 2 + 3, 'rows 1, 2, 4, 7 and 8 went in directly')
    check(env.pg.scalar("SELECT applied FROM push_batch WHERE node_id = '%s' AND last_seq = 8"
                        % node) == 4, 'the ledger counts the direct rows')
    check(env.pg.scalar("SELECT note FROM case_report WHERE id = '%s'" % first[0][1]) ==
          'diperbarui', 'the update was applied')
    same = env.pg.scalar(
        "SELECT count(*) FROM case_report WHERE src_node = '%s' AND geom IS NOT DISTINCT FROM "
        "CASE WHEN id = '%s' THEN ST_SetSRID(ST_MakePoint(107.25, -6.5), 4326) "
        "WHEN id = '%s' THEN ST_SetSRID(ST_MakePoint(106.123457, -6.98765432), 4326) "  # 9 digits
        "WHEN id = '%s' THEN NULL ELSE ST_SetSRID(ST_MakePoint(106.8, -6.6), 4326) END "
        "AND src_batch = CASE WHEN id = '%s' THEN 2 ELSE 8 END AND src_hlc > 0"
        % (node, first[0][1], rows[1][1], rows[4][1], first[1][1]))
    check(same == 5, 'points and provenance as the upsert writes them (%s of 5)' % same)
    check(env.pg.scalar("SELECT count(DISTINCT received_at) FROM case_report WHERE src_node = "
                        "'%s' AND src_batch = 8" % node) == 1, 'one received_at per batch')
    check(env.pg.scalar("SELECT count(*) FROM job WHERE idem_key = 'alert:%s'" % rows[5][1]) == 1,
          'the priority case queued its alert')
    check(env.pg.scalar("SELECT count(*) FROM case_report WHERE id = '%s'" % rows[3][1]) == 0,
          'the row of another origin is not stored')


def test_probe_only_up_to_the_nodes_greatest_id(env):
    """The hub keeps the greatest id a node sent (node.max_id, 017) and
    probes only the ids up to it for rows stored already: a node's new
    records (UUIDv7, above it) cost no look-up. An edit of a record the
    node sent before is still found and goes the SQL way; an id above it
    that is stored all the same (a node the hub knew before 017) is not
    looked up (so the direct COPY fails on the primary key: the proof that
    it was skipped) and the batch goes the SQL way, exact."""
    node = uuid7()
    first = [case_row(i, node) for i in range(1, 4)]
    st, js = push_cases(env, node, first, 3)
    check(st == 200 and js['applied'] == 3, js)
    check(env.pg.scalar("SELECT max_id FROM node WHERE node_id = '%s'" % node) ==
          max(r[1] for r in first), 'max_id is the greatest id sent')
    new = [case_row(i, node) for i in range(4, 104)]
    st, js = push_cases(env, node, new, 103)
    check(st == 200 and js['applied'] == 100, js)
    # an edit of a row it sent before: probed, found, upserted
    st, js = push_cases(env, node, [case_row(104, node, rid=first[0][1], note='diubah')], 104)
    check(st == 200 and js['applied'] == 1, js)
    check(env.pg.scalar("SELECT note FROM case_report WHERE id = '%s'" % first[0][1]) ==
          'diubah', 'the edit was applied')
    # a node the hub knew before 017 (max_id empty): its edit of a stored row
    # is not probed, the direct COPY fails on the primary key, the batch
    # goes the SQL way, exact; max_id is then set
    env.pg.psql("UPDATE node SET max_id = '' WHERE node_id = '%s'" % node)
    mark = os.path.getsize(env.hub.log)
    newer = case_row(106, node)
    st, js = push_cases(env, node, [case_row(105, node, rid=first[1][1], note='lagi'), newer],
                        106)
    check(st == 200 and js['applied'] == 2 and not js['refused'], js)
    with open(env.hub.log, errors='replace') as f:
        f.seek(mark)
        log = f.read()
    check('push %s: the direct COPY failed' % node in log, log[-2000:])
    check(env.pg.scalar("SELECT note FROM case_report WHERE id = '%s'" % first[1][1]) == 'lagi',
          'the edit was applied')
    check(env.pg.scalar("SELECT count(*) FROM case_report WHERE src_node = '%s'" % node) ==
          104, 'every row stored once')
    check(env.pg.scalar("SELECT max_id FROM node WHERE node_id = '%s'" % node) == newer[1],
          'max_id set again')


TESTS = [test_code_added_and_removed_between_batches,
         test_village_added_and_removed_between_batches,
         test_two_hub_instances, test_mixed_batch_is_exact,
         test_probe_only_up_to_the_nodes_greatest_id]


def main():
    args = sys.argv[1:]
    if args and not args[0].startswith('-'):
        os.environ['SIKHNAS_HUB'] = os.path.abspath(args.pop(0))
    only = args[args.index('-k') + 1] if '-k' in args else None
    os.environ['HUBTEST_LOG'] = '-v -v'         # the debug line says which rows went directly
    failed = 0
    with hubtest.Env() as env:
        for t in TESTS:
            if only and only not in t.__name__:
                continue
            t0 = time.time()
            try:
                t(env)
                print('ok   %-50s %.1fs' % (t.__name__, time.time() - t0), flush=True)
            except Exception:           # noqa: BLE001 - report and go on
                failed += 1
                print('FAIL %s' % t.__name__, flush=True)
                traceback.print_exc()
                print('--- hub log tail:\n' + open(env.hub.log).read()[-3000:], flush=True)
    print('%d failed' % failed if failed else 'all passed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
