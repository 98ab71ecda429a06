"""A small HTTP client for a running modelyard server."""

from __future__ import annotations

from typing import Any

import httpx

from modelyard.errors import ModelyardError
from modelyard.security.credentials import read_credentials
from modelyard.settings import Settings


class ServerError(ModelyardError):
    """The server answered with an error envelope."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"HTTP {status}: {error.get('message', body)}")
        self.status = status
        self.code = str(error.get("code", "error"))
        self.field = error.get("field")
        self.request_id = error.get("request_id")


class Client:
    """Talks to the data plane: ``Client("http://127.0.0.1:8000").predict("ep", rows)``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        settings: Settings | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``api_key`` defaults to the one in the home's credentials file, if any."""
        if api_key is None:
            api_key = read_credentials(settings or Settings())
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, transport=transport, headers=headers
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _json(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"message": response.text}}
        if response.status_code >= 400:
            raise ServerError(response.status_code, body)
        return body

    def predict(self, endpoint: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Predictions (and class probabilities) for ``rows`` from ``endpoint``."""
        return self._json(
            self._http.post(f"/v1/endpoints/{endpoint}/predict", json={"inputs": rows})
        )  # type: ignore[no-any-return]

    def endpoints(self) -> list[dict[str, Any]]:
        return self._json(self._http.get("/v1/endpoints"))["endpoints"]  # type: ignore[no-any-return]

    def endpoint(self, name: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/v1/endpoints/{name}"))  # type: ignore[no-any-return]

    def ready(self) -> bool:
        return self._http.get("/readyz").status_code == 200
