"""Wire formats other model servers speak, translated to and from modelyard's own.

* :mod:`~modelyard.serving.protocols.mlflow`: the JSON bodies ``mlflow models serve``
  takes on ``/invocations`` (``dataframe_split``, ``dataframe_records``, ``instances``,
  ``inputs``) and its ``{"predictions": [...]}`` answer.
* :mod:`~modelyard.serving.protocols.oip`: the Open Inference Protocol v2 (KServe,
  Triton, Seldon MLServer): ``/v2/models/{name}/infer`` tensors and model metadata.

Both are pure translation (decoded JSON in, a validated frame out; a
:class:`~modelyard.runtime.base.Prediction` in, a JSON-able dict out; for OIP's binary
tensor extension, a body's bytes in, the same JSON-able request out). Routes, body
reading and JSON decoding stay in :mod:`modelyard.serving.app` and its modules.
"""

from __future__ import annotations

from modelyard.serving.protocols.mlflow import encode_mlflow_response, parse_mlflow_payload
from modelyard.serving.protocols.oip import (
    encode_oip_response,
    model_metadata,
    parse_oip_request,
    read_binary_inputs,
    split_binary_body,
    unframed_binary_error,
)

__all__ = [
    "encode_mlflow_response",
    "encode_oip_response",
    "model_metadata",
    "parse_mlflow_payload",
    "parse_oip_request",
    "read_binary_inputs",
    "split_binary_body",
    "unframed_binary_error",
]
