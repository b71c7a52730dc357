"""Options of the bundle tools: the target of a conversion and the upstream overrides.

Imports only click and the standard library, like cli/options.py (`--help` stays light).
"""

from __future__ import annotations

from typing import Any

import click

from .options import collect, parse_shape, stack

TARGETS = ("1.0.0", "1.1.0", "1.2.0", "upstream")


def parse_shapes(text: str | None, option: str) -> list[Any] | None:
    """``1,2`` -> [1, 2]; ``1,2;1,2`` -> [[1, 2], [1, 2]] (one shape per tensor)."""
    if text is None:
        return None
    parts = [parse_shape(part, option) for part in text.split(";")]
    return parts[0] if len(parts) == 1 else parts


def _overrides(**given: Any) -> Any:
    from heimdall_io.tools.upstream import UpstreamOverrides

    return UpstreamOverrides(
        model_id=given["upstream_model_id"],
        architecture=given["architecture"],
        onnx_opset=given["opset"],
        input_shape=parse_shapes(given["input_shape"], "--input-shape"),
        output_shape=parse_shapes(given["output_shape"], "--output-shape"),
        parameters_count=given["parameters"],
    )


def upstream_options(f: Any) -> Any:
    """--model-id ... --parameters, passed on as ``overrides: UpstreamOverrides``: the
    values `--to upstream` requires where the bundle lacks them."""
    names = (
        "upstream_model_id",
        "architecture",
        "opset",
        "input_shape",
        "output_shape",
        "parameters",
    )
    f = collect("overrides", names, _overrides)(f)
    return stack(
        click.option("--model-id", "upstream_model_id",
                     help="For --to upstream: model.model_id."),
        click.option("--architecture", help="For --to upstream: model.architecture."),
        click.option("--opset", type=int, help="For --to upstream: model.onnx_opset."),
        click.option("--input-shape", help="For --to upstream: model.input_shape, e.g. 1,16."),
        click.option("--output-shape",
                     help="For --to upstream: model.output_shape, e.g. 1,2 or 1,2;1,2 "
                          "(one shape per output)."),
        click.option("--parameters", type=int, help="For --to upstream: parameters_count."),
    )(f)  # fmt: skip


def echo_warnings(warnings: list[str]) -> None:
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
