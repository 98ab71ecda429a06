"""Security services: API keys, the audit log, artifact signatures and the server secret."""
