"""The JSON routes under /v1."""
