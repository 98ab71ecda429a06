"""The control plane: datasets, models, deployments, keys and audit over HTTP (OpenAPI)."""
