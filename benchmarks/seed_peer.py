"""A seed-style peer: the old whole-buffer export/import, rebuilt here as a baseline.

The seed (see shared/seed/heimdall-export-import.md) held every stage of a bundle in memory
at once: the ONNX bytes, their base64 text, the JSON document. This script does the same,
with the standard library only, so ``benchmarks/run.py`` can compare heimdall-io against it
on the same machine and the same files:

    python benchmarks/seed_peer.py pack MODEL.onnx -o BUNDLE [--name N]
    python benchmarks/seed_peer.py unpack BUNDLE -o MODEL.onnx

pack:   read the whole ONNX file, base64.b64encode it, hashlib.md5 the whole buffer,
        build the bundle dict, json.dumps it, write it.
unpack: json.load the whole file, base64.b64decode the payload, hashlib.md5 it, write it.

Its bundles are format 1.0.0 documents (no checksum fields), which heimdall-io also reads.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import sys
import uuid


def pack(model_path: str, output: str, name: str | None = None) -> str:
    """Write a seed-style bundle of ``model_path``; return the ONNX MD5."""
    with open(model_path, "rb") as f:
        onnx_bytes = f.read()
    onnx_b64 = base64.b64encode(onnx_bytes).decode("ascii")
    md5 = hashlib.md5(onnx_bytes).hexdigest()
    if name is None:
        base = os.path.basename(model_path)
        name = base[:-5] if base.endswith(".onnx") else base
    bundle = {
        "format_version": "1.0.0",
        "bundle_metadata": {
            "bundle_id": str(uuid.uuid4()),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "exported_by": "Heimdall Training Service",
            "description": None,
        },
        "model": {
            "model_id": str(uuid.uuid4()),
            "model_name": name,
            "version": 1,
            "architecture": "LocalizationNet",
            "framework": "onnx",
            "onnx_opset": 17,
            "onnx_model_base64": onnx_b64,
            "input_shape": [1, 16],
            "output_shape": [1, 2],
            "parameters_count": None,
        },
        "training_config": {"epochs": None, "batch_size": None, "learning_rate": None},
        "performance_metrics": {"train_loss": [], "val_loss": [], "best_epoch": None},
        "normalization_stats": {},
        "sample_predictions": [],
    }
    text = json.dumps(bundle, indent=2)
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    return md5


def unpack(bundle_path: str, output: str) -> str:
    """Write the ONNX model of a bundle to ``output``; return its MD5."""
    with open(bundle_path, encoding="utf-8") as f:
        bundle = json.load(f)
    onnx_bytes = base64.b64decode(bundle["model"]["onnx_model_base64"])
    md5 = hashlib.md5(onnx_bytes).hexdigest()
    declared = bundle["model"].get("onnx_md5")
    if declared is not None and declared != md5:
        raise SystemExit(f"MD5 mismatch: declared {declared}, got {md5}")
    with open(output, "wb") as f:
        f.write(onnx_bytes)
    return md5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="seed_peer.py", description="Seed-style whole-buffer pack/unpack (a baseline)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="ONNX -> bundle")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--name")
    u = sub.add_parser("unpack", help="bundle -> ONNX")
    u.add_argument("bundle")
    u.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    if args.command == "pack":
        md5 = pack(args.model, args.output, args.name)
    else:
        md5 = unpack(args.bundle, args.output)
    print(f"{args.command}: {args.output} md5 {md5}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
