#!/usr/bin/env python3
"""hub-writer.py - the cluster tests' load generator, "phase 2": district
nodes (real sikhnas-node stores) pushing case reports through a real
sikhnas-hub, which writes to the cluster through the multi-host conninfo.
Same interface as writer.py (select it with CLUSTER_WRITER=.../hub-writer.py):

  setup --uri URI     migrate + refdata load, a local CA and the hub's TLS
                      certificate, the hub's node CA (ca init), start
                      sikhnas-hub on a free port
  run --uri URI --name NAME --ledger FILE --stop-file FILE [--interval S]
                      one node NAME (district 3201), enrolled once (node add
                      + enroll): loop { report add; sync };
                      after every successful sync, each report the node now
                      holds as "synced" (acknowledged by the hub) goes to the
                      ledger: "NAME:<id> <ack_time> - <sync_start_time>"
  bulk --uri URI --name NAME --count N
                      one node NAME with N reports imported and nothing sent
  bulk-sync --name NAME
                      one `sikhnas-node sync` of that node with its default
                      retries (started before a failover, it must finish by
                      itself); prints its JSON summary, exits with its status
  dump --uri URI      every case_report id stored centrally for the writers'
                      nodes, as "NAME:<id>" (duplicates included)
  teardown            stop the hub (SIGTERM by pid)

Executables: SIKHNAS_HUB, SIKHNAS_NODE (default: the meson build dir in
SIKHNAS_BUILD, else /work/build-cluster). State: CLUSTER_WRITER_STATE (a
directory, set by tests/cluster/common.sh). Python 3 stdlib only.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
AREAS = os.path.join(SRC, "tests", "data", "idn-area")
BUILD = os.environ.get("SIKHNAS_BUILD", "/work/build-cluster")
HUB = os.environ.get("SIKHNAS_HUB", os.path.join(BUILD, "hub", "sikhnas-hub"))
NODE = os.environ.get("SIKHNAS_NODE", os.path.join(BUILD, "node", "sikhnas-node"))


def state_dir():
    d = os.environ.get("CLUSTER_WRITER_STATE")
    if not d:
        sys.exit("hub-writer: set CLUSTER_WRITER_STATE to a directory")
    os.makedirs(d, exist_ok=True)
    return d


def run(args, timeout=120, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def must(args, timeout=300, **kw):
    r = run(args, timeout=timeout, **kw)
    if r.returncode != 0:
        sys.exit("hub-writer: %s failed (%d): %s" % (" ".join(args[:4]), r.returncode, r.stderr[-2000:]))
    return r


def make_tls(d):
    ca_key, ca, key, csr, crt, ext = (os.path.join(d, f) for f in
                                      ("ca.key", "ca.pem", "hub.key", "hub.csr", "hub.pem", "ext.cnf"))
    if os.path.exists(crt):
        return ca, crt, key
    o = ["openssl"]
    must(o + ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ca_key])
    must(o + ["req", "-x509", "-new", "-key", ca_key, "-sha256", "-days", "2",
              "-subj", "/CN=cluster test CA", "-out", ca])
    must(o + ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
    must(o + ["req", "-new", "-key", key, "-subj", "/CN=127.0.0.1", "-out", csr])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    must(o + ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
              "-days", "2", "-sha256", "-extfile", ext, "-out", crt])
    return ca, crt, key


def cmd_setup(a):
    d = state_dir()
    for exe in (HUB, NODE):
        if not os.access(exe, os.X_OK):
            sys.exit("hub-writer: %s not built (ninja -C %s)" % (exe, BUILD))
    must([HUB, "--pg", a.uri, "migrate"])
    must([HUB, "--pg", a.uri, "refdata", "load", "--areas", AREAS], timeout=600)
    ca, crt, key = make_tls(d)
    must([HUB, "ca", "init", "--dir", os.path.join(d, "nodeca")])
    out = open(os.path.join(d, "hub.out"), "w")
    log = open(os.path.join(d, "hub.log"), "a")
    p = subprocess.Popen([HUB, "-v", "--pg", a.uri, "run", "--listen", "127.0.0.1:0",
                          "--tls-cert", crt, "--tls-key", key, "--client-ca",
                          os.path.join(d, "nodeca", "ca.pem"), "--enroll-rate", "600"],
                         stdout=out, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(d, "hub.pid"), "w") as f:
        f.write(str(p.pid))
    deadline = time.time() + 30
    while time.time() < deadline:
        line = open(os.path.join(d, "hub.out")).readline()
        if line.startswith("listening "):
            port = int(line.split(":")[-1])
            with open(os.path.join(d, "hub.url"), "w") as f:
                f.write("https://127.0.0.1:%d" % port)
            return
        if p.poll() is not None:
            break
        time.sleep(0.1)
    sys.exit("hub-writer: the hub did not start; log %s" % os.path.join(d, "hub.log"))


def cmd_teardown(a):
    d = state_dir()
    try:
        pid = int(open(os.path.join(d, "hub.pid")).read())
    except (OSError, ValueError):
        return
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if b"sikhnas-hub" not in f.read():
                return
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    for _ in range(100):
        if not os.path.exists("/proc/%d" % pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def node_cmd(db, *args, stdin=None, timeout=120):
    return run([NODE, "--db", db, "-q"] + list(args), input=stdin, timeout=timeout)


def make_node(a):
    """The node NAME's store, made and enrolled once: (db, hub url, ca)."""
    d = state_dir()
    url = open(os.path.join(d, "hub.url")).read().strip()
    ca = os.path.join(d, "ca.pem")
    db = os.path.join(d, a.name + ".db")
    if not os.path.exists(db):
        r = node_cmd(db, "init", "--district", "3201", "--areas", AREAS, timeout=300)
        if r.returncode != 0:
            sys.exit("hub-writer: node init: " + r.stderr)
    if not os.path.exists(db + ".crt"):
        token = must([HUB, "--pg", a.uri, "-q", "node", "add", "--district", "3201",
                      "--name", a.name]).stdout.strip()
        r = node_cmd(db, "enroll", "--hub", url, "--token", token, "--ca", ca)
        if r.returncode != 0:
            sys.exit("hub-writer: node enroll: " + r.stderr)
    nid = json.loads(node_cmd(db, "status", "--json").stdout)["node_id"]
    with open(os.path.join(d, a.name + ".node_id"), "w") as f:
        f.write(nid)
    return db, url, ca


def cmd_bulk(a):
    db, _, _ = make_node(a)
    path = db + ".jsonl"
    day = time.strftime("%Y-%m-%d", time.gmtime())
    with open(path, "w") as f:
        for i in range(a.count):
            f.write(json.dumps({"kind": "U", "village": "3201011001", "signs": ["KBG"],
                                "animals": [{"species": "SP", "sick": 1 + i % 7, "dead": 0,
                                             "at_risk": 20}],
                                "event_date": day, "note": "bulk %d" % i}) + "\n")
    r = node_cmd(db, "import", "--no-progress", path, timeout=600)
    if r.returncode != 0:
        sys.exit("hub-writer: import: " + r.stderr)


def cmd_bulk_sync(a):
    d = state_dir()
    db = os.path.join(d, a.name + ".db")
    url = open(os.path.join(d, "hub.url")).read().strip()
    r = node_cmd(db, "sync", "--hub", url, "--ca", os.path.join(d, "ca.pem"), "--no-progress",
                 timeout=600)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    sys.exit(r.returncode)


def cmd_run(a):
    db, url, ca = make_node(a)
    village = "3201011001"
    acked = set()
    n = syncs = failed = 0
    deadline = time.time() + a.max_seconds
    with open(a.ledger, "a", buffering=1) as ledger:
        # stop also when the test's work directory is gone (test killed, reaper cleaned up)
        while (time.time() < deadline and not os.path.exists(a.stop_file)
               and os.path.isdir(os.path.dirname(os.path.abspath(a.stop_file)))):
            n += 1
            rep = {"kind": "U", "village": village, "signs": ["KBG"],
                   "animals": [{"species": "SP", "sick": 1 + n % 7, "dead": 0, "at_risk": 20}],
                   "event_date": time.strftime("%Y-%m-%d", time.gmtime()), "lat": -6.59, "lon": 106.80}
            r = node_cmd(db, "report", "add", stdin=json.dumps(rep))
            if r.returncode != 0:
                sys.exit("hub-writer: report add: " + r.stderr)
            t0 = time.time()
            r = node_cmd(db, "sync", "--hub", url, "--ca", ca, "--retries", "0", "--no-progress")
            syncs += 1
            if r.returncode != 0:
                failed += 1
                time.sleep(0.3)
                continue
            t1 = time.time()
            lst = json.loads(node_cmd(db, "report", "list", "--json", "--limit", "1000000").stdout)
            for rec in lst:
                if rec.get("sync") == "synced" and rec["id"] not in acked:
                    acked.add(rec["id"])
                    ledger.write("%s:%s %.3f - %.3f\n" % (a.name, rec["id"], t1, t0))
            time.sleep(a.interval)
    # the reports added but never acknowledged stay out of the ledger
    print("hub-writer %s: reports=%d acked=%d syncs=%d failed_syncs=%d" % (a.name, n, len(acked), syncs, failed),
          file=sys.stderr)


def cmd_dump(a):
    d = state_dir()
    names = {}
    for f in os.listdir(d):
        if f.endswith(".node_id"):
            names[open(os.path.join(d, f)).read().strip()] = f[:-len(".node_id")]
    if not names:
        return
    inlist = ",".join("'%s'" % k for k in names)
    r = run(["psql", "-X", "-At", "-F", " ", "-d", a.uri, "-c",
             "SELECT origin, id FROM case_report WHERE origin IN (%s)" % inlist], timeout=60)
    if r.returncode != 0:
        sys.exit("hub-writer dump: " + r.stderr)
    for line in r.stdout.split("\n"):
        if line.strip():
            origin, rid = line.split()
            print("%s:%s" % (names[origin], rid))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup"); s.add_argument("--uri", required=True)
    r = sub.add_parser("run")
    r.add_argument("--uri", required=True); r.add_argument("--name", required=True)
    r.add_argument("--ledger", required=True); r.add_argument("--stop-file", required=True)
    r.add_argument("--interval", type=float, default=0.05)
    r.add_argument("--max-seconds", type=float, default=600)
    b = sub.add_parser("bulk")
    b.add_argument("--uri", required=True); b.add_argument("--name", required=True)
    b.add_argument("--count", type=int, required=True)
    bs = sub.add_parser("bulk-sync"); bs.add_argument("--name", required=True)
    dd = sub.add_parser("dump"); dd.add_argument("--uri", required=True)
    sub.add_parser("teardown")
    a = ap.parse_args()
    {"setup": cmd_setup, "run": cmd_run, "dump": cmd_dump, "teardown": cmd_teardown,
     "bulk": cmd_bulk, "bulk-sync": cmd_bulk_sync}[a.cmd](a)


if __name__ == "__main__":
    main()
