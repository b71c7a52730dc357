"""Moving models between places: the client side of heimdall-io.

* :mod:`.remotes`: other ``heimdall serve`` instances by name, with their API keys
  (``remotes.json`` in the XDG config directory);
* :mod:`.client`: :class:`~.client.RemoteClient`, the HTTP API of one remote (list, show,
  a resumable export, a streamed import);
* :mod:`.ranged`: :class:`~.ranged.RangedReader`, a remote object as a readable, seekable
  stream that resumes from the last byte after a cut; :mod:`.http` and :mod:`.s3` are its
  sources (urllib3; minio for ``s3://``);
* :mod:`.urls`: bundle locations (a path, ``-``, ``s3://BUCKET/KEY``, ``http(s)://``)
  opened for reading or writing, as openers the bundle-file operations take;
* :mod:`.moves`: ``push``, ``pull`` and ``copy`` between the local registry, remotes,
  bundle files and URLs.

The layer stands on the service, codec and files layers and on storage (for ``s3://``);
the CLI is its only user. Nothing in it holds a payload: each step streams.
"""
