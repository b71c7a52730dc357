"""The `heimdall` command line (installed as the ``heimdall_cli`` package)."""
