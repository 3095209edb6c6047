-- 002_identity.sql - node identity: registrations, one-time enrolment
-- tokens, the certificates the hub's CA issued, and the security audit.
-- The hub derives a node's id and district only from its verified client
-- certificate; these tables say whether that certificate is still good.

-- One row per board the operator registered (`sikhnas-hub node add`).
-- node_id is bound at the first enrolment; a revoked registration stays
-- revoked (register the board again under a new name).
CREATE TABLE node_registration (
    name        text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
    district    text NOT NULL CHECK (district ~ '^[0-9]{4}$'),
    node_id     text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Enrolment tokens: only their SHA-256 is kept. A token is spent by the
-- enrolment that uses it, in the transaction that records the certificate.
CREATE TABLE enrol_token (
    token_sha256 text PRIMARY KEY,
    name         text NOT NULL REFERENCES node_registration(name),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- Every certificate the CA signed. serial is lower-case hex without
-- leading zero bytes; a request is served only when its certificate's row
-- exists, matches the subject, and neither it nor the registration is revoked.
CREATE TABLE node_cert (
    serial      text PRIMARY KEY,
    name        text NOT NULL REFERENCES node_registration(name),
    node_id     text NOT NULL,
    district    text NOT NULL,
    not_before  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    via         text NOT NULL CHECK (via IN ('enrol', 'renew')),
    revoked_at  timestamptz
);
CREATE INDEX node_cert_name ON node_cert(name);

-- What happened, for the operator and the auditor: register, enrol, renew,
-- revoke, and every refused request with its reason.
CREATE TABLE security_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    event     text NOT NULL CHECK (event IN ('register', 'enrol', 'renew', 'revoke', 'refuse')),
    name      text,
    node_id   text,
    district  text,
    serial    text,
    address   text,
    endpoint  text,
    reason    text
);
CREATE INDEX security_audit_at ON security_audit(at);
