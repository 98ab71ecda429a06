"""``/v1/keys`` and ``/v1/audit``: administration (admin role only)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.convert import plain
from modelyard.api.idempotency import ShownOnceResponse
from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import KeyCreate
from modelyard.domain.audit import AuditEntry, AuditReport
from modelyard.domain.security import Permission
from modelyard.security.keys import KeyService
from modelyard.serving.responses import ORJSONResponse
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store


async def list_keys(request: Request) -> Response:
    infos = await run_in_threadpool(KeyService(request.state.store).list)
    return ORJSONResponse({"keys": [plain(i) for i in infos]})


async def create_key(request: Request) -> Response:
    """Create a key; the plaintext ``key`` is in this response only.

    With an ``Idempotency-Key``, a replay returns the stored response with the secret
    redacted: ``"key": null``, ``"key_redacted": true`` and a ``message`` naming the
    prefix to revoke if the key was lost. Only that redacted form is stored.
    """
    body = await parse_body(request, KeyCreate)
    service = KeyService(request.state.store)
    info, key = await run_in_threadpool(
        lambda: service.create(
            name=body.name,
            role=body.role,
            endpoints=body.endpoints,
            expires_in_days=body.expires_in_days,
            actor=request.state.principal.actor,
            request_id=request.state.request_id,
        )
    )
    shown = plain(info)
    redacted = {
        **shown,
        "key": None,
        "key_redacted": True,
        "message": (
            "this key was created by an earlier request with the same Idempotency-Key; "
            "a key is shown only once and is not stored. If it was lost, revoke it "
            f"(DELETE /v1/keys/{info.prefix}) and create another"
        ),
    }
    return ShownOnceResponse({**shown, "key": key}, replay=redacted, status_code=201)


async def revoke_key(request: Request) -> Response:
    service = KeyService(request.state.store)
    info = await run_in_threadpool(
        lambda: service.revoke(
            request.path_params["prefix"],
            actor=request.state.principal.actor,
            request_id=request.state.request_id,
        )
    )
    return ORJSONResponse(plain(info))


def _entries(store: Store, limit: int) -> list[AuditEntry]:
    with store.session() as session:
        return AuditRepository(session).entries(limit=limit)


def _verify(store: Store) -> AuditReport:
    with store.session() as session:
        return AuditRepository(session).verify()


async def list_audit(request: Request) -> Response:
    entries = await run_in_threadpool(_entries, request.state.store, 200)
    return ORJSONResponse({"entries": [plain(e) for e in entries]})


async def verify_audit(request: Request) -> Response:
    """The chain and the sealed head: edited, deleted (newest too) or forged entries."""
    report = await run_in_threadpool(_verify, request.state.store)
    seal = report.seal
    return ORJSONResponse(
        {
            "intact": report.intact,
            "entries": report.entries,
            "problems": report.problems,
            "seal": None if seal is None else {"last_id": seal.last_id, "count": seal.count},
        }
    )


OPERATIONS = [
    Operation("GET", "/v1/keys", list_keys, Permission.ADMIN, "List API keys", "admin"),
    Operation(
        "POST",
        "/v1/keys",
        create_key,
        Permission.ADMIN,
        "Create an API key (shown once)",
        "admin",
        request_model=KeyCreate,
        idempotent=True,
        status_codes=(201,),
    ),
    Operation(
        "DELETE", "/v1/keys/{prefix}", revoke_key, Permission.ADMIN, "Revoke an API key", "admin"
    ),
    Operation("GET", "/v1/audit", list_audit, Permission.ADMIN, "Newest audit entries", "admin"),
    Operation(
        "GET",
        "/v1/audit/verify",
        verify_audit,
        Permission.ADMIN,
        "Verify the audit hash chain and its sealed head",
        "admin",
    ),
]
