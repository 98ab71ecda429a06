"""The floor: the thinnest Python model server we could write.

A raw ASGI callable under uvicorn (same uvicorn, event loop and HTTP parser as
modelyard, since it runs from the same venv), orjson in and out, and the fitted
estimator's own ``predict_proba`` called on one row as a 2-D numpy array. No auth, no
validation, no metrics, no logging, no routing framework.

    python bench/serving/bare_server.py --port PORT --models DIR

``DIR`` holds ``<name>.pkl`` (pickled fitted estimators written by ``run.py`` in its
own temporary directory: trusted, since this benchmark made them) and
``features.json`` (the column order). The endpoint name is the fourth path segment, so
the same request as modelyard's ``POST /v1/endpoints/{name}/predict`` works unchanged.
"""

from __future__ import annotations

import argparse
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import uvicorn

# The estimators were fitted on a DataFrame; predicting on a bare array is the thin
# path, and scikit-learn would warn about the missing column names on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")

_JSON = [(b"content-type", b"application/json")]


def make_app(models: dict[str, Any], features: list[str]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if scope["method"] == "GET":  # health probe
            await _respond(send, 200, b'{"status":"ok"}')
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        parts = path.split("/")
        model = models.get(parts[3]) if len(parts) > 3 else None
        if model is None:
            await _respond(send, 404, b'{"error":"not found"}')
            return
        row = orjson.loads(body)["inputs"][0]
        x = np.array([[row[c] for c in features]], dtype=np.float64)
        proba = model.predict_proba(x)[0]
        p0, p1 = float(proba[0]), float(proba[1])
        await _respond(
            send,
            200,
            orjson.dumps({"predictions": [int(p1 > p0)], "probabilities": [{"0": p0, "1": p1}]}),
        )

    return app


async def _respond(send: Any, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--models", type=Path, required=True)
    args = parser.parse_args()
    features = orjson.loads((args.models / "features.json").read_bytes())
    models = {}
    for path in sorted(args.models.glob("*.pkl")):
        with path.open("rb") as fh:
            models[path.stem] = pickle.load(fh)  # noqa: S301 - written by run.py itself
    uvicorn.run(
        make_app(models, features),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
