-- 003_push_ledger.sql - the push ledger: one row per push transaction that
-- applied or refused rows or moved a node's high-water mark, written in
-- that transaction by the hub (sync/hub_batch_sql.c). It says which
-- attempt committed: when the answer to a COMMIT is lost (the connection
-- cut during a failover), the hub looks its attempt up here on a fresh
-- connection and counts the rows in /metrics then, once. For operators it
-- is the history of what each node's pushes did. The hub deletes rows
-- older than 30 days (sync/hub_ledger.c), about once an hour.
CREATE TABLE push_batch (
    node_id    text NOT NULL,
    batch_hlc  bigint NOT NULL,      -- the hub's HLC when it applied the batch: the attempt
    node_hlc   bigint NOT NULL,      -- the batch's hlc as the node sent it
    min_seq    bigint NOT NULL,      -- the node's seqs the batch covered
    last_seq   bigint NOT NULL,
    applied    integer NOT NULL,     -- rows written, or lost to a newer version
    refused    integer NOT NULL,     -- rows refused (push_refusal)
    conflicts  integer NOT NULL,     -- rows that met a version by another writer (conflict_log)
    duplicate  integer NOT NULL,     -- rows at or below acked_seq: applied by an earlier batch
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, batch_hlc)
);
CREATE INDEX push_batch_at ON push_batch(at);
