"""Storage adapters: model registries (SQLite, PostgreSQL) and object stores (directory, S3)."""
