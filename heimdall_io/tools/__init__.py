"""Bundle tools above the files layer: diff, convert (format migration, upstream dialect).

- :mod:`~heimdall_io.tools.diff`: two bundles compared section by section, payloads by
  checksum or by streaming, ONNX models by their wire format.
- :mod:`~heimdall_io.tools.convert`: a bundle rewritten to another format version.
- :mod:`~heimdall_io.tools.upstream`: the upstream Heimdall service's stricter dialect.
"""
