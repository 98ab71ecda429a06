"""Shadow traffic: mirror requests to a candidate version off the hot path.

The caller never waits for the shadow and never sees its output. Mirrors run as
background tasks bounded by ``max_in_flight``; when the bound is reached a mirror is
dropped and counted, never queued without limit. Per (endpoint, shadow version) this
process keeps agreement with the primary (classification: same label; regression:
absolute error), latency and errors.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from starlette.concurrency import run_in_threadpool

from modelyard.runtime.base import LoadedModel, Prediction


@dataclass
class ShadowStats:
    mirrored: int = 0
    dropped: int = 0
    errors: int = 0
    compared_rows: int = 0
    agreeing_rows: int = 0
    abs_errors: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms, dtype=float)
        err = np.asarray(self.abs_errors, dtype=float)
        return {
            "mirrored": self.mirrored,
            "dropped": self.dropped,
            "errors": self.errors,
            "compared_rows": self.compared_rows,
            "agreement_rate": (
                self.agreeing_rows / self.compared_rows
                if self.compared_rows and not len(err)
                else None
            ),
            "abs_error": (
                {
                    "mean": float(err.mean()),
                    "p50": float(np.percentile(err, 50)),
                    "p95": float(np.percentile(err, 95)),
                }
                if len(err)
                else None
            ),
            "latency_ms": (
                {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}
                if len(lat)
                else None
            ),
        }


class ShadowRunner:
    def __init__(self, max_in_flight: int = 64) -> None:
        self.max_in_flight = max_in_flight
        self.stats: dict[tuple[str, str], ShadowStats] = {}
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def mirror(
        self,
        endpoint: str,
        ref: str,
        model: LoadedModel,
        frame: pd.DataFrame,
        primary: Prediction,
        regression: bool,
    ) -> None:
        """Schedule one mirror (returns at once); drops it when too many are running."""
        stats = self.stats.setdefault((endpoint, ref), ShadowStats())
        if self._in_flight >= self.max_in_flight:
            stats.dropped += 1
            return
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(
            self._run(stats, model, frame, primary, regression)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        stats: ShadowStats,
        model: LoadedModel,
        frame: pd.DataFrame,
        primary: Prediction,
        regression: bool,
    ) -> None:
        started = time.perf_counter()
        try:
            shadow = await run_in_threadpool(model.predict_validated, frame)
        except Exception:  # noqa: BLE001 - a failing shadow only counts as an error
            stats.errors += 1
            return
        finally:
            self._in_flight -= 1
        stats.mirrored += 1
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        pairs = list(zip(primary.predictions, shadow.predictions, strict=False))
        stats.compared_rows += len(pairs)
        if regression:
            stats.abs_errors.extend(abs(float(a) - float(b)) for a, b in pairs)
        else:
            stats.agreeing_rows += sum(1 for a, b in pairs if a == b)

    def summary(self, endpoint: str) -> dict[str, Any]:
        return {
            ref: stats.summary() for (name, ref), stats in self.stats.items() if name == endpoint
        }

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
