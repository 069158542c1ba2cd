"""The workspace server: FastAPI app factory, one router per resource, the access check."""
