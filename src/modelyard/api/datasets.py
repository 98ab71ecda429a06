"""``/v1/datasets``: list, show and upload dataset versions."""

from __future__ import annotations

import base64
import binascii

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.convert import plain
from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import DatasetUpload
from modelyard.data.datasets import DatasetService
from modelyard.domain.refs import check_name
from modelyard.domain.security import Permission
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.serving.responses import ORJSONResponse


async def list_datasets(request: Request) -> Response:
    versions = await run_in_threadpool(DatasetService(request.state.store).list)
    return ORJSONResponse({"datasets": [plain(v) for v in versions]})


async def get_dataset(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="dataset")
    versions = await run_in_threadpool(DatasetService(request.state.store).list, name)
    if not versions:
        raise NotFoundError(f"dataset {name!r} not found")
    return ORJSONResponse({"name": name, "versions": [plain(v) for v in versions]})


async def add_version(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="dataset")
    upload = await parse_body(request, DatasetUpload)
    try:
        data = base64.b64decode(upload.data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("data_base64 is not valid base64", field="data_base64") from None
    service = DatasetService(request.state.store)
    version = await run_in_threadpool(
        lambda: service.add_bytes(
            data,
            name,
            fmt=upload.format,
            source=upload.source_name,
            actor=request.state.principal.actor,
        )
    )
    return ORJSONResponse(plain(version), status_code=201)


OPERATIONS = [
    Operation(
        "GET", "/v1/datasets", list_datasets, Permission.READ, "List dataset versions", "datasets"
    ),
    Operation(
        "GET",
        "/v1/datasets/{name}",
        get_dataset,
        Permission.READ,
        "Show a dataset's versions",
        "datasets",
    ),
    Operation(
        "POST",
        "/v1/datasets/{name}/versions",
        add_version,
        Permission.DEVELOP,
        "Add a dataset version (same content → same version)",
        "datasets",
        request_model=DatasetUpload,
        idempotent=True,
        status_codes=(201,),
    ),
]
