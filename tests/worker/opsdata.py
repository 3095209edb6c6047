"""opsdata.py - a fleet and a queue for the operators' pages' tests and
browser test: nodes of district 3201/3202 (one per problem and one
healthy), a year of daily history for one, and jobs in every state."""

NODES = {  # node id -> (name, district, problem)
    '00000000-0000-7000-8000-000000000001': ('ok-bogor', '3201', ''),
    '00000000-0000-7000-8000-000000000002': ('silent-bogor', '3201', 'silent'),
    '00000000-0000-7000-8000-000000000003': ('queue-sukabumi', '3202', 'queue'),
    '00000000-0000-7000-8000-000000000004': ('cert-sukabumi', '3202', 'cert'),
    '00000000-0000-7000-8000-000000000005': ('clock-kupang', '5371', 'clock'),
}
OK = '00000000-0000-7000-8000-000000000001'


def seed_sql():
    s = []
    for nid, (name, district, problem) in NODES.items():
        created = "now() - interval '10 days'"
        s.append("INSERT INTO node_registration (name, district, node_id, created_at) VALUES "
                 "('%s', '%s', '%s', %s);" % (name, district, nid, created))
        s.append("INSERT INTO node_cert (serial, name, node_id, district, not_before, not_after, "
                 "via) VALUES (md5('%s'), '%s', '%s', '%s', now() - interval '1 day', now() + "
                 "interval '%d days', 'enrol');" % (nid, name, nid, district,
                                                    5 if problem == 'cert' else 300))
        if problem != 'silent':
            s.append("INSERT INTO node (node_id, district, last_contact) VALUES ('%s', '%s', "
                     "now());" % (nid, district))
            s.append("INSERT INTO node_health (node_id, district, v, version, outbox_depth, "
                     "outbox_oldest_s, rows_rejected, clock_skew_s, bytes_up, bytes_down, "
                     "disk_free, disk_total) VALUES ('%s', '%s', 1, '0.1.0', %d, %d, 0, %d, "
                     "1000, 2000, 5000000000, 8000000000);"
                     % (nid, district, 900 if problem == 'queue' else 3,
                        100000 if problem == 'queue' else 30, 900 if problem == 'clock' else 1))
    s.append("INSERT INTO node_health_day (node_id, day, contacts, outbox_max, outbox_last) "
             "SELECT '%s', current_date - d, 20 + d %% 7, d %% 50, 0 "
             "FROM generate_series(0, 364) d;" % OK)
    s.append("INSERT INTO job (kind, idem_key, state, attempts, last_error, finished_at) VALUES "
             "('alert', 'ops:dead', 'dead', 25, 'SMTP smtp://x: refused (550)', now()), "
             "('alert', 'ops:failed', 'failed', 3, 'SMTP smtp://x: timeout', NULL), "
             "('summary', 'ops:pending', 'pending', 0, NULL, NULL), "
             "('noop', 'ops:done', 'done', 1, NULL, now());")
    s.append("UPDATE job SET run_at = now() + interval '1 day' WHERE idem_key LIKE 'ops:%';")
    s.append("INSERT INTO recipient (email, role, province, name) VALUES "
             "('vet@example.go.id', 'vet', '32', 'drh. Siti'), "
             "('ops@example.go.id', 'operator', NULL, 'Operator');")
    return '\n'.join(s)
