"""The bundle format: msgspec types, header building, JSON Schema generation."""
