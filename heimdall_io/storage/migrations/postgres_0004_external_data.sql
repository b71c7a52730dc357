-- Models with ONNX external data: the files beside the main ONNX object, each an object
-- of its own under the model's prefix, as a JSON array of {path, key, size_bytes, md5,
-- sha256} (NULL for a single-file model). Independent of every other migration.

ALTER TABLE models ADD COLUMN IF NOT EXISTS external_data JSONB;
