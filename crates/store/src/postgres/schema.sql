-- shuin PostgreSQL schema, version 1. Mirrors ../sqlite/schema.sql: BYTEA for blobs,
-- BIGINT for Unix seconds. Constraints are named: the store maps a unique violation to a
-- ConflictKind by constraint name. Text that is sorted on uses COLLATE "C", so the order
-- is bytewise as in SQLite whatever the database's default collation.
CREATE TABLE IF NOT EXISTS nonces (
    nonce       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT nonces_nonce_pkey PRIMARY KEY (nonce)
);
CREATE INDEX IF NOT EXISTS nonces_expires_at ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS evidence (
    sha256      TEXT NOT NULL,
    bytes       BYTEA NOT NULL,
    CONSTRAINT evidence_sha256_pkey PRIMARY KEY (sha256)
);
-- Evidence that belongs to an application besides its signed request (a personal data
-- record, shuin_ledger::personal_data): its retention follows that application's.
CREATE TABLE IF NOT EXISTS evidence_links (
    sha256          TEXT COLLATE "C" NOT NULL,
    application_id  TEXT COLLATE "C" NOT NULL,
    CONSTRAINT evidence_links_pkey PRIMARY KEY (sha256, application_id)
);
CREATE TABLE IF NOT EXISTS applications (
    id               TEXT COLLATE "C" NOT NULL,
    status           TEXT NOT NULL,
    received_at      BIGINT NOT NULL,
    review_reasons   TEXT NOT NULL,
    serial           TEXT,
    rejection_reason TEXT,
    evidence_sha256  TEXT NOT NULL,
    details          TEXT NOT NULL,
    CONSTRAINT applications_id_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS applications_status ON applications (status, received_at);
-- Which holder each application belongs to (see ../sqlite/schema.sql).
-- One row per application: its only unique key is the one ON CONFLICT names, so two
-- concurrent filings of one application never fail on another key.
CREATE TABLE IF NOT EXISTS application_holders (
    application_id  TEXT COLLATE "C" NOT NULL,
    holder          TEXT COLLATE "C" NOT NULL,
    CONSTRAINT application_holders_pkey PRIMARY KEY (application_id)
);
CREATE INDEX IF NOT EXISTS application_holders_holder ON application_holders (holder);
CREATE TABLE IF NOT EXISTS certificates (
    serial           TEXT COLLATE "C" NOT NULL,
    application_id   TEXT NOT NULL,
    -- NULL once a reservation is abandoned, so the key may be certified later.
    key_in_use       TEXT,
    key_fingerprint  TEXT NOT NULL,
    tbs_sha256       TEXT NOT NULL,
    state            TEXT NOT NULL,
    not_before       BIGINT NOT NULL,
    not_after        BIGINT NOT NULL,
    der              BYTEA,
    issued_at        BIGINT,
    CONSTRAINT certificates_serial_pkey PRIMARY KEY (serial),
    CONSTRAINT certificates_key_in_use_key UNIQUE (key_in_use)
);
CREATE INDEX IF NOT EXISTS certificates_state ON certificates (state);
CREATE INDEX IF NOT EXISTS certificates_application ON certificates (application_id);
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq        BIGINT NOT NULL,
    canonical  BYTEA NOT NULL,
    leaf_hash  TEXT NOT NULL,
    CONSTRAINT ledger_entries_seq_pkey PRIMARY KEY (seq)
);
CREATE TABLE IF NOT EXISTS ledger_state (
    id       BIGINT NOT NULL,
    size     BIGINT NOT NULL,
    root     TEXT NOT NULL,
    compact  TEXT NOT NULL,
    CONSTRAINT ledger_state_id_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_state_single_row CHECK (id = 0)
);
CREATE TABLE IF NOT EXISTS ledger_keys (
    key  TEXT NOT NULL,
    seq  BIGINT NOT NULL,
    CONSTRAINT ledger_keys_key_pkey PRIMARY KEY (key)
);
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    size  BIGINT NOT NULL,
    note  TEXT NOT NULL,
    CONSTRAINT ledger_checkpoints_size_pkey PRIMARY KEY (size)
);
CREATE TABLE IF NOT EXISTS settings (
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    CONSTRAINT settings_key_pkey PRIMARY KEY (key)
);
-- Instance locks (`InstanceLock`): who holds a lease, until when (Unix seconds).
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    CONSTRAINT leases_name_pkey PRIMARY KEY (name)
);
CREATE TABLE IF NOT EXISTS revocations (
    serial           TEXT COLLATE "C" NOT NULL,
    revoked_at       BIGINT NOT NULL,
    reason           BIGINT NOT NULL,
    invalidity_date  BIGINT,
    decided_by       TEXT NOT NULL,
    CONSTRAINT revocations_serial_pkey PRIMARY KEY (serial),
    CONSTRAINT revocations_serial_fkey FOREIGN KEY (serial) REFERENCES certificates (serial)
);
-- Answers kept by earlier builds were only a cache of signatures: the responder signs
-- them again.
DROP TABLE IF EXISTS ocsp_answers;
-- The pre-signed OCSP answer of each issued certificate (see ../sqlite/schema.sql).
CREATE TABLE IF NOT EXISTS ocsp_presigned (
    serial       TEXT COLLATE "C" NOT NULL,
    der          BYTEA NOT NULL,
    revoked      BOOLEAN NOT NULL,
    produced_at  BIGINT NOT NULL,
    number       BIGINT NOT NULL,
    CONSTRAINT ocsp_presigned_serial_pkey PRIMARY KEY (serial)
);
CREATE UNIQUE INDEX IF NOT EXISTS ocsp_presigned_number ON ocsp_presigned (number);
CREATE INDEX IF NOT EXISTS ocsp_presigned_produced_at ON ocsp_presigned (produced_at, serial);
CREATE TABLE IF NOT EXISTS crls (
    scope        TEXT NOT NULL,
    number       BIGINT NOT NULL,
    this_update  BIGINT NOT NULL,
    next_update  BIGINT NOT NULL,
    der          BYTEA NOT NULL,
    CONSTRAINT crls_scope_number_pkey PRIMARY KEY (scope, number)
);
-- The subscriber life cycle (crates/store/src/lifecycle.rs).
CREATE TABLE IF NOT EXISTS registrations (
    id               TEXT NOT NULL,
    code_mac         TEXT NOT NULL,
    identity         TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    failed_attempts  BIGINT NOT NULL,
    state            TEXT NOT NULL,
    application_id   TEXT,
    CONSTRAINT registrations_id_pkey PRIMARY KEY (id)
);
-- The LRA's list of registrations, newest first.
CREATE INDEX IF NOT EXISTS registrations_newest ON registrations (created_at, id);
CREATE TABLE IF NOT EXISTS notices (
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    serial      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    CONSTRAINT notices_id_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS notices_pending ON notices (sent_at, created_at);
CREATE TABLE IF NOT EXISTS certificate_flags (
    serial       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    jpki_serial  TEXT NOT NULL,
    flagged_at   BIGINT NOT NULL,
    CONSTRAINT certificate_flags_serial_reason_pkey PRIMARY KEY (serial, reason)
);
-- The ledger's tiles (C2SP tlog-tiles): each row the widest version of one tile, only
-- ever replaced by a wider one; the state row is the tree size they describe, always
-- the size of a stored checkpoint (shuin_store::TileStore).
CREATE TABLE IF NOT EXISTS ledger_tiles (
    level   SMALLINT NOT NULL,
    idx     BIGINT NOT NULL,
    hashes  BYTEA NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
    CONSTRAINT ledger_tiles_pkey PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS ledger_tile_state (
    id    SMALLINT NOT NULL CHECK (id = 0),
    size  BIGINT NOT NULL,
    CONSTRAINT ledger_tile_state_pkey PRIMARY KEY (id)
);
INSERT INTO ledger_tile_state (id, size) VALUES (0, 0) ON CONFLICT DO NOTHING;
-- The order queue of an RA node in a split deployment (shuin_store::OrderStore): one
-- row per order id; the CA takes orders by a conditional update of their claim.
CREATE TABLE IF NOT EXISTS orders (
    id             TEXT COLLATE "C" NOT NULL,
    body           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('queued', 'claimed', 'done')),
    queued_at      BIGINT NOT NULL,
    claimed_by     TEXT,
    claimed_until  BIGINT,
    outcome        TEXT,
    retryable      BIGINT NOT NULL,
    done_at        BIGINT,
    CONSTRAINT orders_id_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS orders_waiting ON orders (state, queued_at);
-- The schema version (crate::schema::VERSION): a database made by another version of
-- shuin is refused at open rather than used.
CREATE TABLE IF NOT EXISTS schema_version (
    id       INTEGER NOT NULL,
    version  BIGINT NOT NULL,
    CONSTRAINT schema_version_id_pkey PRIMARY KEY (id),
    CONSTRAINT schema_version_one_row CHECK (id = 0)
);
INSERT INTO schema_version (id, version) VALUES (0, 1) ON CONFLICT (id) DO NOTHING;
