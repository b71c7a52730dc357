"""``minio fput_object`` of a file: the floor an S3 import is held to (issue 9: <= 1.3x).

    python benchmarks/fput.py http://127.0.0.1:PORT BUCKET FILE KEY

Credentials from HEIMDALL_S3_ACCESS_KEY / HEIMDALL_S3_SECRET_KEY. minio's defaults
(part size chosen from the file size, parallel part uploads): what a user of the plain
client gets.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit


def main(argv: list[str]) -> int:
    endpoint, bucket, path, key = argv
    from minio import Minio

    e = urlsplit(endpoint)
    access, secret = os.environ["HEIMDALL_S3_ACCESS_KEY"], os.environ["HEIMDALL_S3_SECRET_KEY"]
    client = Minio(e.netloc, access_key=access, secret_key=secret, secure=e.scheme == "https")
    client.fput_object(bucket, key, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
