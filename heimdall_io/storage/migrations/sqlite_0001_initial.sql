-- The SQLite registry: the columns of the Heimdall PostgreSQL `models` table plus this
-- project's, with JSON and shapes stored as JSON text and datetimes as ISO-8601 UTC text
-- ("2024-05-01T12:00:00.000000+00:00", so text order is time order).

CREATE TABLE models (
    model_id         TEXT PRIMARY KEY,
    model_name       TEXT NOT NULL,
    version          INTEGER NOT NULL,
    status           TEXT NOT NULL,
    architecture     TEXT,
    framework        TEXT,
    onnx_path        TEXT,
    onnx_opset       INTEGER,
    input_shape      TEXT,
    output_shape     TEXT,
    parameters_count INTEGER,
    training_metrics TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    extra            TEXT,
    description      TEXT,
    onnx_size_bytes  INTEGER,
    onnx_md5         TEXT,
    onnx_sha256      TEXT,
    source_model_id  TEXT
);

CREATE INDEX models_created_at_idx ON models (created_at);
CREATE INDEX models_onnx_path_idx ON models (onnx_path);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    action          TEXT NOT NULL,
    result          TEXT NOT NULL,
    model_id        TEXT,
    source_model_id TEXT,
    bytes           INTEGER,
    onnx_md5        TEXT,
    onnx_sha256     TEXT,
    actor           TEXT,
    detail          TEXT
);
