-- 012_analyst.sql - the accounts of the analysts' web app (sikhnas-web):
-- who may log in, their role and scope, sessions (only the SHA-256 of the
-- token is kept) and what happened (logins, refusals, account changes).
-- Written on the primary only (`sikhnas-web account ...` and the app's
-- logins); the pages read the report schema from the read replica.
CREATE SCHEMA analyst;

-- role: national (scope ''), province (scope: 2 digits), district (scope:
-- 4 digits), operator (national scope; the fleet and queue pages).
CREATE TABLE analyst.account (
    login       text PRIMARY KEY CHECK (login ~ '^[a-z0-9._@-]{2,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role        text NOT NULL CHECK (role IN ('national', 'province', 'district', 'operator')),
    scope       text NOT NULL DEFAULT '',
    pw_hash     text NOT NULL,
    disabled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((role IN ('national', 'operator') AND scope = '')
        OR (role = 'province' AND scope ~ '^[0-9]{2}$')
        OR (role = 'district' AND scope ~ '^[0-9]{4}$'))
);

CREATE TABLE analyst.session (
    token_hash  bytea PRIMARY KEY,
    login       text NOT NULL REFERENCES analyst.account(login) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX session_login ON analyst.session(login);
CREATE INDEX session_expires ON analyst.session(expires_at);

CREATE TABLE analyst.audit (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    login    text,
    event    text NOT NULL,                  -- login, login_failed, logout, add, disable, reset, refuse
    address  text,
    detail   text
);
CREATE INDEX audit_at ON analyst.audit(at);
