"""Options that several commands share, and the parsers behind them.

`heimdall --help` loads this module: it imports only click and the standard library. Groups
of options reach a command as one value (``metadata``, ``compression``, ``storage``), so no
command takes a long parameter list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from heimdall_io.service import Service

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

DEFAULT_LEVEL = 3
DEFAULT_GZIP_LEVEL = 6


def stack(*decorators: Decorator) -> Decorator:
    """Apply option decorators in the order they are listed (and shown by --help)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return decorate


def collect(target: str, names: Sequence[str], build: Callable[..., Any]) -> Decorator:
    """Pass the parameters ``names`` to the command as one: ``target=build(**them)``."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)  # also shares click's list of the options declared so far
        def command(*args: Any, **kwargs: Any) -> Any:
            kwargs[target] = build(**{name: kwargs.pop(name) for name in names})
            return f(*args, **kwargs)

        return command

    return decorate


def quiet_option(f: Any) -> Any:
    return click.option("-q", "--quiet", is_flag=True, help="No progress display.")(f)


def force_option(f: Any) -> Any:
    return click.option("-f", "--force", is_flag=True, help="Overwrite an existing output file.")(f)


# -- compression ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Compression:
    """How a bundle is written: ``none``, or ``zstd``/``gzip`` at ``level``."""

    name: str
    level: int

    @classmethod
    def from_options(cls, use_zstd: bool, use_gzip: bool, level: int | None) -> Compression:
        if use_zstd and use_gzip:
            raise click.UsageError("--zstd and --gzip exclude each other; pass one")
        if level is not None and not (use_zstd or use_gzip):
            raise click.UsageError(
                "--level applies to --zstd or --gzip; pass --zstd --level N or --gzip --level N"
            )
        if use_gzip:
            if level is not None and not 1 <= level <= 9:
                raise click.BadParameter(f"gzip levels are 1-9, got {level}", param_hint="--level")
            return cls("gzip", DEFAULT_GZIP_LEVEL if level is None else level)
        return cls("zstd" if use_zstd else "none", DEFAULT_LEVEL if level is None else level)


def compression_options(f: Any) -> Any:
    """--zstd, --gzip and --level, passed on as ``compression: Compression``."""
    f = collect("compression", ("use_zstd", "use_gzip", "level"), Compression.from_options)(f)
    return stack(
        click.option("--zstd", "use_zstd", is_flag=True,
                     help="Compress the whole bundle with zstd."),
        click.option("--gzip", "use_gzip", is_flag=True,
                     help="Compress the whole bundle with gzip (readable by any gunzip)."),
        click.option("--level", type=click.IntRange(1, 19), default=None,
                     help=f"Compression level: zstd 1-19 (default {DEFAULT_LEVEL}), "
                          f"gzip 1-9 (default {DEFAULT_GZIP_LEVEL})."),
    )(f)  # fmt: skip


# -- the registry and object store ----------------------------------------------------------


@dataclass(frozen=True)
class StorageUrls:
    """--database-url and --storage-url (None: the environment or the defaults)."""

    database_url: str | None
    storage_url: str | None

    def open_service(self) -> Service:
        """A :class:`heimdall_io.service.Service` on these URLs, acting as ``cli``."""
        from heimdall_io.service import Service

        return Service.from_config(self.database_url, self.storage_url, actor="cli")


def storage_options(f: Any) -> Any:
    """--storage-url and --database-url, passed on as ``storage: StorageUrls``."""
    return stack(
        click.option(
            "--database-url",
            envvar="HEIMDALL_DATABASE_URL",
            help="Registry: sqlite:///path or postgresql://... "
            "[env: HEIMDALL_DATABASE_URL; default: $HEIMDALL_HOME/registry.sqlite3].",
        ),
        click.option(
            "--storage-url",
            envvar="HEIMDALL_STORAGE_URL",
            help="Object store: a directory, file:///dir or s3://BUCKET?endpoint=URL "
            "[env: HEIMDALL_STORAGE_URL; default: $HEIMDALL_HOME/objects].",
        ),
    )(collect("storage", ("database_url", "storage_url"), StorageUrls)(f))


# -- model metadata -------------------------------------------------------------------------


def parse_shape(text: str | None, option: str) -> list[int | str] | None:
    """``1,3,224,224`` -> [1, 3, 224, 224]; names (``batch``) stay strings."""
    if text is None:
        return None
    dims = [d.strip() for d in text.strip("[]() ").split(",")]
    if not all(dims):
        raise click.BadParameter(f"{text!r} is not a comma-separated shape", param_hint=option)
    return [int(d) if d.lstrip("-").isdigit() else d for d in dims]


#: The metadata sections read from JSON files: section name -> (parameter, option).
_SECTION_FILES = {
    "training_config": ("training_config", "--training-config"),
    "performance_metrics": ("metrics", "--metrics"),
    "normalization_stats": ("normalization", "--normalization"),
    "sample_predictions": ("samples", "--samples"),
}


@dataclass(frozen=True)
class ModelMetadata:
    """The model metadata options as given; files and shapes are read when asked for."""

    name: str | None = None
    version: int | None = None
    architecture: str | None = None
    description: str | None = None
    #: Section name -> path of its JSON file, for the files given.
    section_files: dict[str, str] = field(default_factory=dict)
    #: Overrides of what is read from the model (pack only).
    opset: int | None = None
    input_shape: str | None = None
    output_shape: str | None = None
    parameters: int | None = None

    @classmethod
    def from_options(cls, **options: Any) -> ModelMetadata:
        """From the click parameters (--training-config ... --samples give section_files)."""
        files = {}
        for section, (parameter, _) in _SECTION_FILES.items():
            path = options.pop(parameter)
            if path is not None:
                files[section] = path
        return cls(section_files=files, **options)

    def sections(self) -> dict[str, Any]:
        """The section files, read: ``{section name: JSON value}`` (a bad file is an error)."""
        from heimdall_io.files.bundles import load_json_file

        return {
            section: load_json_file(path, _SECTION_FILES[section][1])
            for section, path in self.section_files.items()
        }

    def shapes(self) -> tuple[list[int | str] | None, list[int | str] | None]:
        """The parsed --input-shape and --output-shape (a bad one is a usage error)."""
        return (
            parse_shape(self.input_shape, "--input-shape"),
            parse_shape(self.output_shape, "--output-shape"),
        )


_METADATA_OPTIONS = (
    click.option("--version", type=int, help="Model version (default 1)."),
    click.option("--architecture", help="Network architecture, e.g. LocalizationNet."),
    click.option("--description", help="Description stored in the bundle."),
    click.option("--training-config", type=click.Path(), help="JSON file."),
    click.option("--metrics", type=click.Path(), help="JSON file: performance_metrics."),
    click.option("--normalization", type=click.Path(), help="JSON file."),
    click.option("--samples", type=click.Path(), help="JSON file: sample_predictions."),
)

_OVERRIDE_OPTIONS = (
    click.option("--opset", type=int, help="Override the opset read from the model."),
    click.option("--input-shape", help="Override the input shape, e.g. 1,3,224,224 or batch,16."),
    click.option("--output-shape", help="Override the output shape, e.g. 1,2."),
    click.option("--parameters", type=int, help="Override the parameter count."),
)


def model_metadata_options(*, name_required: bool, overrides: bool) -> Decorator:
    """--name, --version ... --samples (and with ``overrides`` --opset ... --parameters),
    passed on as ``metadata: ModelMetadata``."""
    if name_required:
        name = click.option("--name", required=True, help="Model name.")
    else:
        name = click.option("--name", help="Model name (default: the file name without .onnx).")
    options = (name, *_METADATA_OPTIONS, *(_OVERRIDE_OPTIONS if overrides else ()))
    names = ["name", "version", "architecture", "description"]
    names += [parameter for parameter, _ in _SECTION_FILES.values()]
    if overrides:
        names += ["opset", "input_shape", "output_shape", "parameters"]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return stack(*options)(collect("metadata", names, ModelMetadata.from_options)(f))

    return decorate
