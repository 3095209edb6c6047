-- 002_sms.sql - SMS intake (node/sms.c). Node-local tables: no outbox
-- triggers, never synced. The records an SMS creates live in the synced
-- tables of 001 and reach the hub like any other.

-- Every message handled, one row per distinct (sender, modem timestamp,
-- text): hash is hex SHA-256 of "sender\nsent\ntext" and is unique, so the
-- same message delivered twice makes one record; the second delivery gets
-- the stored reply again. The row commits in the transaction of the record
-- it made.
CREATE TABLE sms_in (
    id          INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    sender      TEXT NOT NULL,          -- +62... when it is a phone number, else as received
    sent        TEXT NOT NULL,          -- modem timestamp from the spool file, '' when none
    received_at TEXT NOT NULL,          -- node time, UTC ISO-8601
    text        TEXT NOT NULL,          -- UTF-8, invalid bytes replaced by U+FFFD
    code        TEXT NOT NULL,          -- start code, upper-cased ('' when none)
    status      TEXT NOT NULL CHECK (status IN ('saved', 'answered', 'refused', 'unknown_phone')),
    error       TEXT,                   -- why it was refused
    record_tbl  TEXT,                   -- the record it made (status 'saved')
    record_id   TEXT,
    ref         TEXT,                   -- case reference or permit number quoted in the reply
    deliveries  INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX sms_in_sender ON sms_in(sender, received_at);

-- Replies and alerts to send, written in the transaction of the message
-- they answer and turned into spool files only after it committed;
-- written = 1 once the file is in the outgoing folder. A crash in between
-- leaves written = 0 and the next run writes them.
CREATE TABLE sms_out (
    id       INTEGER PRIMARY KEY,
    sms_in   INTEGER NOT NULL REFERENCES sms_in(id),
    kind     TEXT NOT NULL CHECK (kind IN ('reply', 'alert')),
    phone    TEXT NOT NULL,             -- +62...
    text     TEXT NOT NULL,
    written  INTEGER NOT NULL DEFAULT 0 CHECK (written IN (0, 1)),
    file     TEXT                       -- the outgoing file's name
);
CREATE INDEX sms_out_pending ON sms_out(written) WHERE written = 0;
