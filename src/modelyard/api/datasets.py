"""``/v1/datasets``: list, show and upload dataset versions."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.convert import plain
from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import DatasetUpload
from modelyard.data.datasets import DatasetChecks, DatasetService
from modelyard.domain.refs import check_name
from modelyard.domain.security import Permission
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.serving.responses import ORJSONResponse
from modelyard.spec import load_spec


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
    """Store a version with its profile; the body is the version plus ``created``,
    ``summary`` (rows, columns, nulls, warnings), ``expectations`` (checked when the
    server's spec declares them for this dataset) and ``schema_drift_from_previous``.

    A version that violates expectations is still stored (201, ``expectations.passed``
    false): data is immutable and the report says what is wrong with it.
    """
    name = check_name(request.path_params["name"], what="dataset")
    upload = await parse_body(request, DatasetUpload)
    try:
        data = base64.b64decode(upload.data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("data_base64 is not valid base64", field="data_base64") from None
    service = DatasetService(request.state.store)
    spec_file = request.state.settings.spec_file
    report = await run_in_threadpool(
        lambda: service.add_checked(
            data,
            name,
            fmt=upload.format,
            source=upload.source_name,
            checks=_checks(spec_file, name),
            actor=request.state.principal.actor,
        )
    )
    return ORJSONResponse({**report.to_dict(), **plain(report.version)}, status_code=201)


def _checks(spec_file: Path | None, dataset: str) -> DatasetChecks:
    """The expectations of the server's spec file (``serve --spec``), if any."""
    if spec_file is None or not spec_file.exists():
        return DatasetChecks()
    return DatasetChecks.from_spec(load_spec(spec_file), dataset, source=spec_file.name)


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
