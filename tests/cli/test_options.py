"""cli/options.py: option groups arrive as one value, shapes parse, --help stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from heimdall_cli.options import (
    Compression,
    ModelMetadata,
    StorageUrls,
    compression_options,
    model_metadata_options,
    parse_shape,
    storage_options,
)

from heimdall_io.errors import HeimdallError


def probe(*, overrides: bool) -> tuple[click.Command, dict[str, Any]]:
    """A command with the shared option groups that records what it is called with."""
    seen: dict[str, Any] = {}

    @click.command()
    @model_metadata_options(name_required=not overrides, overrides=overrides)
    @compression_options
    @storage_options
    def command(**kwargs: Any) -> None:
        seen.update(kwargs)

    return command, seen


def test_option_groups_arrive_as_one_value_each() -> None:
    command, seen = probe(overrides=True)
    args = ["--name", "n", "--version", "2", "--metrics", "m.json", "--samples", "s.json",
            "--input-shape", "batch,16", "--parameters", "32", "--zstd", "--level", "9",
            "--database-url", "sqlite:///r.db"]  # fmt: skip
    result = CliRunner().invoke(command, args, env={"HEIMDALL_STORAGE_URL": "/objects"})
    assert result.exit_code == 0, result.output
    assert seen == {
        "metadata": ModelMetadata(
            name="n",
            version=2,
            section_files={"performance_metrics": "m.json", "sample_predictions": "s.json"},
            input_shape="batch,16",
            parameters=32,
        ),
        "compression": Compression("zstd", 9),
        "storage": StorageUrls("sqlite:///r.db", "/objects"),
    }
    assert seen["metadata"].shapes() == (["batch", 16], None)


def test_without_overrides_there_are_no_override_options() -> None:
    command, seen = probe(overrides=False)
    result = CliRunner().invoke(command, ["--name", "n"], env={})
    assert result.exit_code == 0, result.output
    assert seen["metadata"] == ModelMetadata(name="n")
    assert seen["compression"] == Compression("none", 3)
    assert CliRunner().invoke(command, []).exit_code == 2  # --name is required
    result = CliRunner().invoke(command, ["--name", "n", "--opset", "13"])
    assert result.exit_code == 2 and "--opset" in result.output


def test_level_needs_zstd_or_gzip() -> None:
    command, seen = probe(overrides=True)
    result = CliRunner().invoke(command, ["--level", "5"])
    assert result.exit_code == 2
    assert "--level applies to --zstd or --gzip" in result.output
    assert seen == {}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], Compression("none", 3)),
        (["--zstd"], Compression("zstd", 3)),
        (["--gzip"], Compression("gzip", 6)),
        (["--gzip", "--level", "9"], Compression("gzip", 9)),
        (["--zstd", "--level", "19"], Compression("zstd", 19)),
    ],
)
def test_gzip_beside_zstd(args: list[str], expected: Compression) -> None:
    command, seen = probe(overrides=False)
    result = CliRunner().invoke(command, ["--name", "n", *args])
    assert result.exit_code == 0, result.output
    assert seen["compression"] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gzip", "--level", "10"], "gzip levels are 1-9, got 10"),
        (["--gzip", "--zstd"], "--zstd and --gzip exclude each other"),
    ],
)
def test_gzip_usage_errors(args: list[str], message: str) -> None:
    command, seen = probe(overrides=False)
    result = CliRunner().invoke(command, ["--name", "n", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert seen == {}


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        (None, None),
        ("1,3,224,224", [1, 3, 224, 224]),
        ("batch, 16", ["batch", 16]),
        ("[-1,2]", [-1, 2]),
        ("(1,)", None),
        ("1,,2", None),
    ],
)
def test_parse_shape(text: str | None, shape: list[int | str] | None) -> None:
    if text is not None and shape is None:
        with pytest.raises(click.BadParameter, match="is not a comma-separated shape") as e:
            parse_shape(text, "--input-shape")
        assert e.value.param_hint == "--input-shape"
    else:
        assert parse_shape(text, "--input-shape") == shape


def test_sections_are_read_in_order_and_errors_name_the_option(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps([{"p": 1}]))
    (tmp_path / "t.json").write_text(json.dumps({"epochs": 3}))
    files = {"sample_predictions": str(tmp_path / "s.json")}
    files["training_config"] = str(tmp_path / "t.json")
    metadata = ModelMetadata.from_options(
        name=None, version=None, architecture=None, description=None,
        training_config=files["training_config"], metrics=None, normalization=None,
        samples=files["sample_predictions"],
    )  # fmt: skip
    sections = metadata.sections()
    assert sections == {"training_config": {"epochs": 3}, "sample_predictions": [{"p": 1}]}
    assert list(sections) == ["training_config", "sample_predictions"]
    (tmp_path / "t.json").write_text("nope")
    with pytest.raises(HeimdallError, match=r"^--training-config file .* is not valid JSON"):
        metadata.sections()


def test_help_imports_no_heavy_module() -> None:
    code = """
import sys
from heimdall_cli.main import cli
for args in (["--help"], *([name, "--help"] for name in cli.list_commands(None))):
    cli.main(args, prog_name="heimdall", standalone_mode=False)
heavy = ("heimdall_io.codec", "heimdall_io.onnx", "heimdall_io.service", "heimdall_io.api",
         "starlette", "uvicorn", "onnx", "msgspec", "orjson", "zstandard")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: heimdall pack" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "[]"


def test_every_command_module_is_listed_and_loaded_lazily() -> None:
    # Each command is found by name in the module COMMAND_MODULES names, and no command
    # is left out of the table (a new command in a module's COMMANDS must be added there).
    import importlib
    import subprocess
    import sys

    from heimdall_cli import main as cli_main

    for module_name in set(cli_main.COMMAND_MODULES.values()):
        module = importlib.import_module(f"heimdall_cli.{module_name}")
        names = {c.name for c in module.COMMANDS}
        listed = {n for n, m in cli_main.COMMAND_MODULES.items() if m == module_name}
        assert names == listed, module_name
    for name in cli_main.COMMAND_MODULES:
        assert cli_main.cli.get_command(None, name) is not None, name  # type: ignore[arg-type]
    # `heimdall pack` loads the bundle commands only.
    code = ("import sys; sys.argv = ['heimdall', 'pack', '--help']\n"
            "from heimdall_cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('heimdall_cli.')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1]
    assert "registry_commands" not in loaded and "transfer_commands" not in loaded, loaded
    assert "bundle_commands" in loaded, loaded
