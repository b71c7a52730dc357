-- The PostgreSQL registry. A Heimdall database already has `models` (created by the seed):
-- then only the columns this project adds are created, nothing else of it is touched.

CREATE TABLE IF NOT EXISTS models (
    model_id UUID PRIMARY KEY,
    model_name VARCHAR(255) NOT NULL,
    version INTEGER NOT NULL,
    status VARCHAR(50) NOT NULL,
    architecture VARCHAR(100),
    framework VARCHAR(50),
    onnx_path TEXT,
    onnx_opset INTEGER,
    input_shape INTEGER[],
    output_shape INTEGER[],
    parameters_count BIGINT,
    training_metrics JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

ALTER TABLE models ADD COLUMN IF NOT EXISTS extra JSONB;
ALTER TABLE models ADD COLUMN IF NOT EXISTS description TEXT;
ALTER TABLE models ADD COLUMN IF NOT EXISTS onnx_size_bytes BIGINT;
ALTER TABLE models ADD COLUMN IF NOT EXISTS onnx_md5 TEXT;
ALTER TABLE models ADD COLUMN IF NOT EXISTS onnx_sha256 TEXT;
ALTER TABLE models ADD COLUMN IF NOT EXISTS source_model_id UUID;

CREATE TABLE IF NOT EXISTS audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    action VARCHAR(50) NOT NULL,
    result VARCHAR(50) NOT NULL,
    model_id UUID,
    source_model_id UUID,
    bytes BIGINT,
    onnx_md5 TEXT,
    onnx_sha256 TEXT,
    actor TEXT,
    detail TEXT
);

CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);
