"""`heimdall`: pack, unpack, inspect and verify bundles; move models between registries.

The commands live in bundle_commands, registry_commands and serve_command (keys and
signatures: signing_commands). Heavy modules
are imported inside the commands that need them, so `--help` is instant.
"""

from __future__ import annotations

import click

from . import (
    bundle_commands,
    mlflow_commands,
    registry_commands,
    signing_commands,
    tool_commands,
    transfer_commands,
)
from .allocator import tune_malloc
from .errors import Group
from .serve_command import serve


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heimdall-io", prog_name="heimdall")
def cli() -> None:
    """Move trained Heimdall models between instances as .heimdall bundles.

    `-` stands for stdin or stdout wherever a path is taken:

      heimdall pack m.onnx -o - | ssh host heimdall unpack - -o m.onnx
    """


for command in (*bundle_commands.COMMANDS, *tool_commands.COMMANDS, *registry_commands.COMMANDS,
                *mlflow_commands.COMMANDS, *transfer_commands.COMMANDS, serve):  # fmt: skip
    cli.add_command(command)
signing_commands.register(cli)


def main(prog_name: str | None = None) -> None:
    tune_malloc()  # before the first large buffer: see allocator
    cli(prog_name=prog_name or "heimdall")


if __name__ == "__main__":  # pragma: no cover
    main()
