"""Small builders shared by the parts of the OpenAPI description."""

from __future__ import annotations

from typing import Any

__all__ = [
    "MODEL_ID_PARAMETER",
    "REF_TEMPLATE",
    "error_response",
    "json_content",
    "ref",
    "string_header",
]


#: Where component schemas live (msgspec's ``ref_template`` takes the same).
REF_TEMPLATE = "#/components/schemas/{name}"


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": REF_TEMPLATE.format(name=name)}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON body with ``schema``."""
    return {"application/json": {"schema": schema}}


def error_response(description: str) -> dict[str, Any]:
    """An error answer: its body is an ``ErrorBody``."""
    return {"description": description, "content": json_content(ref("ErrorBody"))}


def string_header(description: str) -> dict[str, Any]:
    """A response header whose value is a string."""
    return {"description": description, "schema": {"type": "string"}}


#: The ``{model_id}`` path parameter.
MODEL_ID_PARAMETER: dict[str, Any] = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "description": "The model's UUID (422 if it is not one).",
    "schema": {"type": "string", "format": "uuid"},
}
