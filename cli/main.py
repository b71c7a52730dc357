"""`heimdall`: pack, unpack, inspect and verify bundles; move models between registries.

The commands live in bundle_commands, tool_commands, registry_commands, mlflow_commands,
transfer_commands, signing_commands and serve_command. A command's module is imported only
when that command runs (or `--help` lists them all), and heavy modules are imported inside
the commands that need them, so start-up stays short for every command.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .errors import Group

#: Command name -> the module that defines it (in its COMMANDS).
COMMAND_MODULES = {
    **dict.fromkeys(("pack", "unpack", "inspect", "verify"), "bundle_commands"),
    **dict.fromkeys(("diff", "convert"), "tool_commands"),
    **dict.fromkeys(("list", "register", "export", "import", "show", "delete", "history", "gc"),
                    "registry_commands"),
    "import-mlflow": "mlflow_commands",
    **dict.fromkeys(("push", "pull", "copy", "remote"), "transfer_commands"),
    **dict.fromkeys(("key", "sign"), "signing_commands"),
    "serve": "serve_command",
}  # fmt: skip


class LazyGroup(Group):
    """Imports a command's module when the command is looked up, not at start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return super().get_command(ctx, cmd_name)
        module: Any = importlib.import_module(f".{module_name}", __package__)
        return next((c for c in module.COMMANDS if c.name == cmd_name), None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heimdall-io", prog_name="heimdall")
def cli() -> None:
    """Move trained Heimdall models between instances as .heimdall bundles.

    `-` stands for stdin or stdout wherever a path is taken:

      heimdall pack m.onnx -o - | ssh host heimdall unpack - -o m.onnx
    """


def main(prog_name: str | None = None) -> None:
    cli(prog_name=prog_name or "heimdall")


if __name__ == "__main__":  # pragma: no cover
    main()
