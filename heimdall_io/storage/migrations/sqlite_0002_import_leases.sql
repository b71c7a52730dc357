-- Import leases: an import records its object key here before its first byte reaches the
-- store and renews the lease while it runs; the model row and the lease's deletion are
-- one transaction. gc never removes an object with a live lease, and claims (deletes)
-- an expired lease before removing its object. expires_at: ISO-8601 UTC text, as in
-- `models`, so text order is time order.

CREATE TABLE import_leases (
    object_key TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX import_leases_expires_at_idx ON import_leases (expires_at);
