"""The OpenAPI 3.1 document, generated from the declared operations."""

from __future__ import annotations

import re
from typing import Any

from modelyard._version import __version__
from modelyard.api.operations import Operation

_PARAM = re.compile(r"{(\w+)}")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}


#: The Open Inference Protocol v2's error body, on the ``/v2`` routes.
OIP_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def build_openapi(operations: list[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    if any(op.oip for op in operations):
        schemas["OipError"] = OIP_ERROR_SCHEMA
    for op in operations:
        item: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}".replace(
                "{", ""
            ).replace("}", ""),
            "responses": _responses(op),
        }
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"},
            }
            for name in _PARAM.findall(op.path)
        ]
        if op.idempotent:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                }
            )
        if params:
            item["parameters"] = params
        if op.request_model is not None:
            schema = op.request_model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[op.request_model.__name__] = schema
            item["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.request_model.__name__}"}
                    }
                },
            }
        if op.permission is not None:
            item["security"] = [{"bearer": []}, {"apiKey": []}]
            item["x-modelyard-permission"] = op.permission.value
        else:
            item["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "modelyard", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _responses(op: Operation) -> dict[str, Any]:
    schema = "OipError" if op.oip else "Error"
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    out: dict[str, Any] = {
        str(code): {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        for code in op.status_codes
    }
    if op.oip:  # OIP answers invalid input with a 400
        codes = ["400", "404", "413", "415", "429"]
    else:
        codes = ["400", "404", "409", "413", "415", "422", "429"]
    if op.permission is not None:
        codes += ["401", "403"]
    for code in codes:
        out[code] = error
    out["503"] = error
    return out
