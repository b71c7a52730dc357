-- Import leases: an import records its object key here before its first byte reaches the
-- store and renews the lease while it runs; the model row and the lease's deletion are
-- one transaction. gc never removes an object with a live lease, and claims (deletes)
-- an expired lease before removing its object. Expiry is by the database's clock, the
-- one clock every replica shares.

CREATE TABLE IF NOT EXISTS import_leases (
    object_key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS import_leases_expires_at_idx ON import_leases (expires_at);
