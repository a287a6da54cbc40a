-- shuin SQLite schema, version 1.
CREATE TABLE IF NOT EXISTS nonces (
    nonce       TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX IF NOT EXISTS nonces_expires_at ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS evidence (
    sha256      TEXT PRIMARY KEY,
    bytes       BLOB NOT NULL
);
-- Evidence that belongs to an application besides its signed request (a personal data
-- record, shuin_ledger::personal_data): its retention follows that application's.
CREATE TABLE IF NOT EXISTS evidence_links (
    sha256          TEXT NOT NULL,
    application_id  TEXT NOT NULL,
    PRIMARY KEY (sha256, application_id)
);
CREATE TABLE IF NOT EXISTS applications (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    received_at      INTEGER NOT NULL,
    review_reasons   TEXT NOT NULL,
    serial           TEXT,
    rejection_reason TEXT,
    evidence_sha256  TEXT NOT NULL,
    details          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applications_status ON applications (status, received_at);
-- Which holder each application belongs to (the RA's holder key: SHA-256 over the
-- normalised name, birth date and address), for disclosure to the holder; one row per
-- application, `-` for one with no identity. Personal data (D-i): set to `-` when the
-- application's personal data is forgotten.
CREATE TABLE IF NOT EXISTS application_holders (
    application_id  TEXT PRIMARY KEY,
    holder          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS application_holders_holder ON application_holders (holder);
CREATE TABLE IF NOT EXISTS certificates (
    serial           TEXT PRIMARY KEY,
    application_id   TEXT NOT NULL,
    -- NULL once a reservation is abandoned, so the key may be certified later.
    key_in_use       TEXT UNIQUE,
    key_fingerprint  TEXT NOT NULL,
    tbs_sha256       TEXT NOT NULL,
    state            TEXT NOT NULL,
    not_before       INTEGER NOT NULL,
    not_after        INTEGER NOT NULL,
    der              BLOB,
    issued_at        INTEGER
);
CREATE INDEX IF NOT EXISTS certificates_state ON certificates (state);
CREATE INDEX IF NOT EXISTS certificates_application ON certificates (application_id);
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq        INTEGER PRIMARY KEY,
    canonical  BLOB NOT NULL,
    leaf_hash  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_state (
    id       INTEGER PRIMARY KEY CHECK (id = 0),
    size     INTEGER NOT NULL,
    root     TEXT NOT NULL,
    compact  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_keys (
    key  TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    size  INTEGER PRIMARY KEY,
    note  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
-- Instance locks (`InstanceLock`): who holds a lease, until when (Unix seconds).
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    serial           TEXT PRIMARY KEY REFERENCES certificates (serial),
    revoked_at       INTEGER NOT NULL,
    reason           INTEGER NOT NULL,
    invalidity_date  INTEGER,
    decided_by       TEXT NOT NULL
);
-- Answers kept by earlier builds were only a cache of signatures: the responder signs
-- them again.
DROP TABLE IF EXISTS ocsp_answers;
-- The pre-signed OCSP answer of each issued certificate (newest per serial), the status it
-- was signed for (revoked 1, good 0), when it was produced (Unix seconds) and its feed
-- number (shuin_core::repository_feed): the responder's schedule (crates/ca/src/ocsp.rs).
CREATE TABLE IF NOT EXISTS ocsp_presigned (
    serial       TEXT PRIMARY KEY,
    der          BLOB NOT NULL,
    revoked      INTEGER NOT NULL CHECK (revoked IN (0, 1)),
    produced_at  INTEGER NOT NULL,
    number       INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ocsp_presigned_number ON ocsp_presigned (number);
-- The answers due for signing again, oldest first (serial orders equal times).
CREATE INDEX IF NOT EXISTS ocsp_presigned_produced_at ON ocsp_presigned (produced_at, serial);
CREATE TABLE IF NOT EXISTS crls (
    scope        TEXT NOT NULL,
    number       INTEGER NOT NULL,
    this_update  INTEGER NOT NULL,
    next_update  INTEGER NOT NULL,
    der          BLOB NOT NULL,
    PRIMARY KEY (scope, number)
);
-- The subscriber life cycle (crates/store/src/lifecycle.rs).
CREATE TABLE IF NOT EXISTS registrations (
    id               TEXT PRIMARY KEY,
    code_mac         TEXT NOT NULL,
    identity         TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL,
    state            TEXT NOT NULL,
    application_id   TEXT
);
-- The LRA's list of registrations, newest first.
CREATE INDEX IF NOT EXISTS registrations_newest ON registrations (created_at, id);
CREATE TABLE IF NOT EXISTS notices (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    serial      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
);
CREATE INDEX IF NOT EXISTS notices_pending ON notices (sent_at, created_at);
CREATE TABLE IF NOT EXISTS certificate_flags (
    serial       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    jpki_serial  TEXT NOT NULL,
    flagged_at   INTEGER NOT NULL,
    PRIMARY KEY (serial, reason)
);
-- The ledger's tiles (C2SP tlog-tiles): each row the widest version of one tile, only
-- ever replaced by a wider one; the state row is the tree size they describe, always
-- the size of a stored checkpoint (shuin_store::TileStore).
CREATE TABLE IF NOT EXISTS ledger_tiles (
    level   INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    hashes  BLOB NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS ledger_tile_state (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    size  INTEGER NOT NULL
);
INSERT INTO ledger_tile_state (id, size) VALUES (0, 0) ON CONFLICT DO NOTHING;
-- The order queue of an RA node in a split deployment (shuin_store::OrderStore): one
-- row per order id; the CA takes orders by a conditional update of their claim.
CREATE TABLE IF NOT EXISTS orders (
    id             TEXT PRIMARY KEY,
    body           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('queued', 'claimed', 'done')),
    queued_at      INTEGER NOT NULL,
    claimed_by     TEXT,
    claimed_until  INTEGER,
    outcome        TEXT,
    retryable      INTEGER NOT NULL,
    done_at        INTEGER
);
CREATE INDEX IF NOT EXISTS orders_waiting ON orders (state, queued_at);
-- The schema version (crate::schema::VERSION): a database made by another version of
-- shuin is refused at open rather than used.
CREATE TABLE IF NOT EXISTS schema_version (
    id       INTEGER PRIMARY KEY CHECK (id = 0),
    version  INTEGER NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (0, 1) ON CONFLICT (id) DO NOTHING;
