"""Full ONNX validation with onnx.checker (loads the model: its memory is the model's size)."""

from __future__ import annotations

from .errors import ConfigError, InvalidModelError


def check_model_file(path: str) -> None:
    """Raise InvalidModelError unless ``path`` passes ``onnx.checker.check_model``."""
    try:
        import onnx
        import onnx.checker
    except ImportError:  # pragma: no cover - onnx is in the default extras
        raise ConfigError(
            "model validation needs onnx: pip install onnx "
            "(or skip it with --no-validate)"
        ) from None
    try:
        # A path (not a loaded proto) lets the checker handle models over 2 GiB.
        onnx.checker.check_model(path, full_check=False)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidModelError(f"invalid ONNX model: {first}") from None
    except Exception as e:  # protobuf DecodeError and friends
        raise InvalidModelError(f"invalid ONNX model: {type(e).__name__}: {e}") from None
