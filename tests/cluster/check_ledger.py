#!/usr/bin/env python3
"""check_ledger.py - compare writers' ledgers with what the database holds.

  check_ledger.py --dump STORED_IDS_FILE [--kill-time T --old-port P] LEDGER...

Fails (exit 1) if an acknowledged id is missing or any id is stored more
than once. With --kill-time, prints the seconds from the kill to the first
write acknowledged by a server other than the killed one (old port), and
fails if there is none.
"""
import argparse
import collections
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--kill-time", type=float)
    ap.add_argument("--old-port", default="")
    ap.add_argument("--limit", type=float, default=0, help="fail if failover seconds exceed this")
    ap.add_argument("--target", type=float, default=0, help="report whether failover met this")
    ap.add_argument("--prefix", default="", help="only stored ids starting with this count")
    ap.add_argument("ledgers", nargs="+")
    a = ap.parse_args()

    acked = {}
    first_after = None
    for path in a.ledgers:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                rid, t = parts[0], float(parts[1])
                port = parts[2] if len(parts) > 2 else "-"
                # optional 4th field: when the write attempt started; a write that
                # started before the kill does not count as "accepted after the kill"
                started = float(parts[3]) if len(parts) > 3 else t
                acked[rid] = t
                if a.kill_time is not None and started > a.kill_time and port != a.old_port:
                    if first_after is None or t < first_after:
                        first_after = t
    stored = collections.Counter(l.strip() for l in open(a.dump) if l.strip() and l.startswith(a.prefix))
    missing = [r for r in acked if stored[r] == 0]
    dup = {r: c for r, c in stored.items() if c > 1}
    unacked = [r for r in stored if r not in acked]

    print(f"acknowledged={len(acked)} stored_rows={sum(stored.values())} stored_distinct={len(stored)} "
          f"missing={len(missing)} duplicated={len(dup)} stored_but_unacknowledged={len(unacked)}")
    ok = True
    if missing:
        ok = False
        print("FAIL: acknowledged but missing: " + " ".join(sorted(missing)[:20]))
    if dup:
        ok = False
        print("FAIL: stored more than once: " + " ".join(f"{r}x{c}" for r, c in list(dup.items())[:20]))
    if not acked:
        ok = False
        print("FAIL: nothing was acknowledged at all")
    if a.kill_time is not None:
        if first_after is None:
            ok = False
            print("FAIL: no write was accepted after the kill")
        else:
            secs = first_after - a.kill_time
            acked_before = sum(1 for t in acked.values() if t <= a.kill_time)
            print(f"failover: kill -9 -> first accepted write = {secs:.2f} s "
                  f"(acked before kill {acked_before}, after {len(acked) - acked_before})")
            if a.target:
                print(f"failover target {a.target:g} s: {'met' if secs <= a.target else 'MISSED'}")
            if a.limit and secs > a.limit:
                ok = False
                print(f"FAIL: failover took {secs:.2f} s > limit {a.limit} s")
    print("ledger check: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
