"""Request/response schemas (pydantic) and explicit converters from entities."""
