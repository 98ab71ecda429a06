"""A small HTTP client for a running modelyard server."""

from __future__ import annotations

import time
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
    """Talks to a server: ``Client("http://127.0.0.1:8000").predict("ep", rows)``; also
    starts, approves and rolls back rollouts, sets fallbacks and submits jobs."""

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
        response = self._http.post(f"/v1/endpoints/{endpoint}/predict", json={"inputs": rows})
        return self._json(response)  # type: ignore[no-any-return]

    def endpoints(self) -> list[dict[str, Any]]:
        return self._json(self._http.get("/v1/endpoints"))["endpoints"]  # type: ignore[no-any-return]

    def endpoint(self, name: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/v1/endpoints/{name}"))  # type: ignore[no-any-return]

    def ready(self) -> bool:
        return self._http.get("/readyz").status_code == 200

    # ------------------------------------------------------------------ rollouts

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        return self._json(self._http.post(path, json=body, headers=headers))  # type: ignore[no-any-return]

    def start_rollout(
        self,
        endpoint: str,
        model: str,
        *,
        strategy: str = "blue-green",
        share: float | None = None,
        force: bool = False,
        override_reason: str | None = None,
        reason: str = "",
        steps: list[float] | None = None,
        canary: dict[str, Any] | None = None,
        require_approval: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Start rolling ``model`` (``NAME:VERSION``) out on ``endpoint``; the endpoint."""
        body: dict[str, Any] = {
            "model": model,
            "strategy": strategy,
            "force": force,
            "reason": reason,
            "require_approval": require_approval,
        }
        optional = {
            "share": share,
            "override_reason": override_reason,
            "steps": steps,
            "canary": canary,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._post(f"/v1/endpoints/{endpoint}/rollouts", body, idempotency_key)

    def rollout_status(self, endpoint: str) -> dict[str, Any]:
        """What ``endpoint`` serves, its running rollout and its history."""
        return self._json(self._http.get(f"/v1/endpoints/{endpoint}/rollouts"))  # type: ignore[no-any-return]

    def rollback(
        self, endpoint: str, *, reason: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Return ``endpoint`` to its previous version (or end its running rollout)."""
        return self._post(f"/v1/endpoints/{endpoint}/rollback", {"reason": reason}, idempotency_key)

    def approve_rollout(
        self, endpoint: str, *, reason: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Approve full promotion of the running rollout as this client's key (which
        must not be the one that started it); the rollout status afterwards."""
        return self._post(
            f"/v1/endpoints/{endpoint}/rollouts/approve", {"reason": reason}, idempotency_key
        )

    def set_fallback(
        self,
        endpoint: str,
        model: str | None,
        *,
        force: bool = False,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Set the version answering while the primary's breaker is open (``None``
        clears it); the endpoint."""
        body = {"model": model, "force": force, "reason": reason}
        return self._post(f"/v1/endpoints/{endpoint}/fallback", body, idempotency_key)

    # ------------------------------------------------------------------ jobs

    def submit_job(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Queue a ``train``, ``compile``, ``batch_predict`` or ``drift_report`` job; the
        job (``id``, ``status`` ``queued``, the checked ``params``). With an
        ``idempotency_key``, a retry of the same request returns the same job."""
        body = {"kind": kind, "params": params or {}}
        return self._post("/v1/jobs", body, idempotency_key)

    def job(self, job_id: str) -> dict[str, Any]:
        """A job: ``status``, ``attempts``, ``result`` or ``error``."""
        return self._json(self._http.get(f"/v1/jobs/{job_id}"))  # type: ignore[no-any-return]

    def jobs(self, *, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Jobs, newest first, optionally of one status and kind."""
        query = {k: v for k, v in {"status": status, "kind": kind}.items() if v is not None}
        return self._json(self._http.get("/v1/jobs", params=query))["jobs"]  # type: ignore[no-any-return]

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued job, or ask the server to stop a running one."""
        return self._post(f"/v1/jobs/{job_id}/cancel", {}, None)

    def wait_for_job(
        self, job_id: str, *, timeout: float = 600.0, poll_interval: float = 0.5
    ) -> dict[str, Any]:
        """The job once it succeeded, failed or was cancelled; TimeoutError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout:g}s")
            time.sleep(poll_interval)
