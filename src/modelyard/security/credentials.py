"""The credentials file (mode 0600) through which the CLI and SDK find their API key."""

from __future__ import annotations

import json

from modelyard.security.secret import write_private
from modelyard.settings import Settings


def read_credentials(settings: Settings) -> str | None:
    """The API key the CLI and SDK use by default, if the credentials file exists."""
    try:
        return str(json.loads(settings.credentials_path.read_text())["api_key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_credentials(settings: Settings, api_key: str) -> None:
    write_private(settings.credentials_path, json.dumps({"api_key": api_key}).encode())
