"""``/v1/keys`` and ``/v1/audit``: administration (admin role only)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.convert import plain
from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import KeyCreate
from modelyard.domain.audit import verify_chain
from modelyard.domain.security import Permission
from modelyard.security.keys import KeyService
from modelyard.serving.responses import ORJSONResponse
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store


async def list_keys(request: Request) -> Response:
    infos = await run_in_threadpool(KeyService(request.state.store).list)
    return ORJSONResponse({"keys": [plain(i) for i in infos]})


async def create_key(request: Request) -> Response:
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
    return ORJSONResponse({**plain(info), "key": key}, status_code=201)


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


def _entries(store: Store, limit: int | None = None) -> list:  # type: ignore[type-arg]
    with store.session() as session:
        return AuditRepository(session).entries(limit=limit)


async def list_audit(request: Request) -> Response:
    entries = await run_in_threadpool(_entries, request.state.store, 200)
    return ORJSONResponse({"entries": [plain(e) for e in entries]})


async def verify_audit(request: Request) -> Response:
    entries = await run_in_threadpool(_entries, request.state.store)
    problems = verify_chain(entries)
    return ORJSONResponse({"intact": not problems, "entries": len(entries), "problems": problems})


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
        status_codes=(201,),
    ),
    # Not idempotent on purpose: replaying would mean storing the plaintext key.
    Operation(
        "DELETE", "/v1/keys/{prefix}", revoke_key, Permission.ADMIN, "Revoke an API key", "admin"
    ),
    Operation("GET", "/v1/audit", list_audit, Permission.ADMIN, "Newest audit entries", "admin"),
    Operation(
        "GET",
        "/v1/audit/verify",
        verify_audit,
        Permission.ADMIN,
        "Verify the audit hash chain",
        "admin",
    ),
]
