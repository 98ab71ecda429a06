"""The data plane: an ASGI app that serves endpoints from in-memory model tables."""
