-- 003_web.sql - web accounts and sessions. Node-local: no outbox triggers,
-- never synced; a password is set on the node where the officer logs in.

-- One row per officer who may log in to this node's web pages.
CREATE TABLE web_account (
    officer_id   TEXT PRIMARY KEY REFERENCES officer(id),
    pw_hash      TEXT NOT NULL,              -- pbkdf2-sha256$ITER$SALT$KEY (base64)
    failed       INTEGER NOT NULL DEFAULT 0, -- failed logins in a row
    locked_until INTEGER NOT NULL DEFAULT 0, -- unix seconds; refused until then
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;

-- A login. token_hash is SHA-256 of the cookie's random token, so the
-- store alone does not open a session.
CREATE TABLE web_session (
    token_hash BLOB PRIMARY KEY,
    officer_id TEXT NOT NULL REFERENCES officer(id),
    created    INTEGER NOT NULL,             -- unix seconds
    expires    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_session_officer ON web_session(officer_id);
