"""Bundle files: pack, unpack, inspect, verify. No registry involved.

Each takes paths (``-`` for stdin/stdout), streams, and writes outputs atomically.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..codec import (
    BundleInfo,
    BundleReader,
    EncodeResult,
    ExternalSource,
    Limits,
    digest_stream,
    inspect_bundle,
    is_seekable,
    write_bundle,
)
from ..codec.compression import NONE
from ..errors import FileAccessError, InvalidModelError, MalformedBundleError
from ..fileaccess import open_readable
from ..format.header import new_header
from ..format.storable import check_storable
from ..onnx.external import check_with_external_data, find_external_tensor, reject_external_data
from .layout import DEFAULT_MODEL_FILE, ModelDirectory, StagedDirectory, read_model_directory
from .paths import STDIO, atomic_output, is_special, open_input, spooled_copy

Progress = Callable[[int], None] | None
#: Signs a header (``model`` declaring the payload's size and digests); returns it signed.
Signer = Callable[[dict[str, Any]], dict[str, Any]]
#: Opens a bundle location for reading (open_input: a path or ``-``; the transfer layer
#: passes one that also opens s3:// and http(s):// URLs).
Opener = Callable[[str], AbstractContextManager[BinaryIO]]
#: Opens an output location, ``(location, force=...)``, written atomically.
OutputOpener = Callable[..., AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack` wrote: the bundle's header and the encoder's result."""

    header: dict[str, Any]
    result: EncodeResult


def load_json_file(path: str, option: str) -> Any:
    """A JSON file given to an option such as --metrics; errors name the option.

    Example:

    ```python
    from heimdall_io.files.bundles import load_json_file

    metrics = load_json_file("metrics.json", "--metrics")
    ```
    """
    try:
        with open_readable(path, f"{option} file") as f:
            return json.load(f, parse_constant=_not_json)
    except ValueError as e:
        raise MalformedBundleError(f"{option} file {path} is not valid JSON: {e}") from None


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


def model_fields_from_onnx(f: Any, **given: Any) -> dict[str, Any]:
    """Model fields for a header: what the caller gave, the rest read from the ONNX file.

    ``f`` is a seekable ONNX file, rewound afterwards; ``given`` needs ``model_name``.

    Example:

    ```python
    from heimdall_io.files.bundles import model_fields_from_onnx

    with open("model.onnx", "rb") as f:
        fields = model_fields_from_onnx(f, model_name="LocalizationNet", version=2)
    print(fields["onnx_opset"], fields["input_shape"])
    ```
    """
    from ..onnx.metadata import read_onnx_info

    info = read_onnx_info(f)
    f.seek(0)
    fields: dict[str, Any] = {
        "model_id": given.get("model_id"),
        "model_name": given["model_name"],
        "version": given.get("version") or 1,
        "architecture": given.get("architecture"),
        "framework": "onnx",
        "onnx_opset": given.get("onnx_opset") or info.opset,
        "input_shape": given.get("input_shape") or info.input_shape,
        "output_shape": given.get("output_shape") or info.output_shape,
        "parameters_count": given.get("parameters_count") or info.parameters_count,
        "input_names": info.input_names or None,
        "output_names": info.output_names or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def pack(
    model_path: str,
    out_path: str,
    *,
    model: Mapping[str, Any],
    sections: Mapping[str, Any] | None = None,
    description: str | None = None,
    compression: str = NONE,
    level: int = 3,
    force: bool = False,
    progress: Progress = None,
    sign: Signer | None = None,
    output: OutputOpener = atomic_output,
) -> PackResult:
    """Pack an ONNX file (or a model directory) into a bundle. ``model`` needs
    ``model_name``; the rest is read.

    Args:
        model_path (`str`):
            The ONNX file (``-``: stdin, spooled to a temporary file first), or a
            directory holding one ``.onnx`` file and its external data files: they go in
            ``model.external_data`` (format 1.2.0), each streamed from its file.
        out_path (`str`):
            The bundle, written atomically (``-``: stdout).
        model (`Mapping[str, Any]`):
            Model fields; opset, shapes and parameter count default to the ONNX file's.
        sections (`Mapping[str, Any]`, *optional*):
            Top-level sections such as ``training_config``.
        compression (`str`, *optional*, defaults to `"none"`):
            ``"none"``, ``"zstd"`` or ``"gzip"``, at ``level``.
        sign (`Signer`, *optional*):
            Signs the header (e.g. ``lambda h: signing.sign_document(h, keys)``). The
            model is hashed first, so that its size and digests, which are signed, stand
            before the payload; it is then read a second time to be written.

    Returns:
        `PackResult`: the header written and the payload's digests.

    Example:

    ```python
    from heimdall_io.files.bundles import pack

    result = pack("model.onnx", "model.heimdall", model={"model_name": "LocalizationNet"},
                  compression="zstd")
    print(result.result.digests.md5)
    ```
    """
    with contextlib.ExitStack() as stack:
        layout = None
        if model_path != STDIO and os.path.isdir(model_path):
            layout = read_model_directory(model_path)
            model_path = layout.model_path
        src = stack.enter_context(open_input(model_path, "Model file"))
        if not is_seekable(src):
            src = stack.enter_context(spooled_copy(src))
        size = os.fstat(src.fileno()).st_size if hasattr(src, "fileno") else None
        fields = model_fields_from_onnx(src, **model)
        if layout is None:
            refuse_external_data(src, "pack its directory (the .onnx file and its data files)")
        else:
            fields["onnx_file"] = layout.model_file
        header = new_header(fields, description=description, sections=sections)
        sources = external_sources(layout, hashed=sign is not None)
        known: dict[str, Any] = {"size": size}
        if sign is not None:
            digests = digest_stream(src)
            src.seek(0)
            known = {"size": digests.size, "md5": digests.md5, "sha256": digests.sha256}
            header["model"].update(onnx_size_bytes=digests.size, onnx_md5=digests.md5,
                                   onnx_sha256=digests.sha256)  # fmt: skip
            if sources:
                header["model"]["external_data"] = [s.entry() for s in sources]
            header = sign(header)
        out = stack.enter_context(output(out_path, force=force))
        result = write_bundle(
            out, header, src, compression=compression, level=level, progress=progress,
            external=sources, **known,
        )  # fmt: skip
        return PackResult(header, result)


def refuse_external_data(src: BinaryIO, instead: str) -> None:
    """A lone ONNX file (seekable; rewound) whose tensors use external data cannot travel
    or be stored without its files: InvalidModelError saying to do ``instead``."""
    try:
        name = find_external_tensor(src)
    except InvalidModelError:
        name = None
    src.seek(0)
    if name is not None:
        raise InvalidModelError(f"model uses external data (tensor {name}): {instead} instead")


def external_sources(layout: ModelDirectory | None, *, hashed: bool) -> list[ExternalSource]:
    """The external data files of a model directory, for the encoder (``hashed``: with
    their digests computed first, as a signed header declares them)."""
    if layout is None:
        return []
    sources = []
    for relative, size in layout.files:
        path = layout.path(relative)
        opener = functools.partial(open_input, path, "External data file")
        md5 = sha256 = None
        if hashed:
            with opener() as f:
                d = digest_stream(f)
            size, md5, sha256 = d.size, d.md5, d.sha256
        sources.append(ExternalSource(relative, size, opener, md5, sha256))
    return sources


def unpack(
    bundle_path: str,
    out_path: str,
    *,
    force: bool = False,
    limits: Limits | None = None,
    progress: Progress = None,
    opener: Opener = open_input,
) -> BundleInfo:
    """Write a bundle's ONNX model to ``out_path`` once it is fully read and verified.

    ``-`` (stdout) cannot be renamed into place, nor can a FIFO or a device, so the model
    is held in a temporary file until verified: a damaged bundle writes nothing there.

    Example:

    ```python
    from heimdall_io.files.bundles import unpack

    info = unpack("model.heimdall", "model.onnx", force=True)
    print(info.header.model.model_name, info.sha256)
    ```
    """
    with opener(bundle_path) as src:
        reader = BundleReader(src, limits=limits)
        model = reader.document.get("model") or {}
        if out_path != STDIO and (
            os.path.isdir(out_path) or out_path.endswith(("/", os.sep)) or model.get("onnx_file")
        ):
            return _unpack_directory(reader, out_path, model, force, progress)
        if out_path == STDIO or is_special(out_path):
            with atomic_output(out_path, force=force) as out, tempfile.TemporaryFile() as held:
                info = _copy_single(reader, held, progress)
                held.seek(0)
                shutil.copyfileobj(held, out, 1 << 20)
            return info
        with atomic_output(out_path, force=force) as out:
            return _copy_single(reader, out, progress)


def _copy_single(reader: BundleReader, out: BinaryIO, progress: Progress) -> BundleInfo:
    write = out.write
    for chunk in reader.iter_payload(progress):
        write(chunk)
    if reader.has_external:
        raise FileAccessError(
            "the bundle carries external data files: unpack it into a directory (-o DIR/)"
        )
    return reader.finish()


def _unpack_directory(
    reader: BundleReader, out_dir: str, model: Mapping[str, Any], force: bool, progress: Progress
) -> BundleInfo:
    """The model and its external data files into ``out_dir``, all or nothing."""
    name = model.get("onnx_file") or DEFAULT_MODEL_FILE
    if not isinstance(name, str) or "/" in name:
        raise MalformedBundleError(f"invalid bundle: model.onnx_file is not a file name: {name!r}")
    with StagedDirectory(out_dir, force=force) as staged:
        with staged.create(name) as f:
            for chunk in reader.iter_payload(progress):
                f.write(chunk)
        for path, chunks in reader.iter_external(progress):
            with staged.create(path) as f:
                for chunk in chunks:
                    f.write(chunk)
        info = reader.finish()
        staged.commit()
    return info


def inspect(
    bundle_path: str, *, limits: Limits | None = None, opener: Opener = open_input
) -> BundleInfo:
    """Metadata, size and checksums; constant time on an uncompressed file of ours.

    Example:

    ```python
    from heimdall_io.files.bundles import inspect

    info = inspect("model.heimdall")
    print(info.document["bundle_metadata"], info.payload_size, info.verified)
    ```
    """
    with opener(bundle_path) as src:
        return inspect_bundle(src, limits=limits)


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found: the bundle's info and onnx.checker's verdict."""

    info: BundleInfo
    model_error: str | None  # None when onnx.checker passed

    @property
    def ok(self) -> bool:
        """True when the bundle is valid and its model passed onnx.checker."""
        return self.model_error is None


def verify(
    bundle_path: str,
    *,
    limits: Limits | None = None,
    progress: Progress = None,
    opener: Opener = open_input,
) -> VerifyResult:
    """Read everything: structure, checksums, what a registry can store (the rules of
    import: :func:`~heimdall_io.format.storable.check_storable`), then the model: its
    external data only in files of the bundle, and onnx.checker.

    Bundle errors raise; a model that fails the checker is reported in the result.

    Example:

    ```python
    from heimdall_io.files.bundles import verify

    result = verify("model.heimdall")
    print("ok" if result.ok else result.model_error)
    ```
    """
    with opener(bundle_path) as src, tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.onnx")
        with open(model_path, "wb") as out:
            info = BundleReader(src, limits=limits).copy_payload(out, progress)
        check_storable(info.document)
        try:
            from ..onnx.checker import check_model_file  # onnx: only when checking

            if info.external:  # verified, not kept: the checker reads none of their bytes
                files = {e.path: e.size or 0 for e in info.external}
                check_with_external_data(model_path, files, check_model_file)
            else:
                reject_external_data(model_path)  # a single file: nothing beside it is its own
                check_model_file(model_path)
        except InvalidModelError as e:
            # onnx names the file it was given: a temporary path, gone when we report it.
            return VerifyResult(info, str(e).replace(model_path, "the decoded payload"))
        return VerifyResult(info, None)


__all__ = ["STDIO", "PackResult", "VerifyResult", "inspect", "pack", "unpack", "verify"]
