"""Adaptive batching: concurrent requests for one model version share a predict call.

An idle batcher predicts at once (no added wait). While a batch runs, new requests
queue; when it finishes they go together as the next batch, up to ``max_rows`` rows.
So batches grow with load by themselves; ``max_wait_ms`` optionally waits to fill.
If a batch fails, its requests are retried one by one, so one bad request only fails
itself.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from starlette.concurrency import run_in_threadpool

from modelyard.runtime.base import LoadedModel, Prediction


@dataclass
class _Pending:
    frame: pd.DataFrame
    future: asyncio.Future[Prediction]


@dataclass
class Batcher:
    model: LoadedModel
    max_rows: int = 64
    max_wait_ms: float = 0.0
    on_batch: Callable[[int], None] | None = None
    _queue: deque[_Pending] = field(default_factory=deque)
    _running: bool = False
    batches: int = 0
    batched_rows: int = 0

    async def predict(self, frame: pd.DataFrame) -> Prediction:
        loop = asyncio.get_running_loop()
        pending = _Pending(frame, loop.create_future())
        self._queue.append(pending)
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await pending.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.max_wait_ms > 0 and self._queued_rows() < self.max_rows:
                    await asyncio.sleep(self.max_wait_ms / 1000)
                batch = self._take()
                await self._run(batch)
        finally:
            self._running = False

    def _queued_rows(self) -> int:
        return sum(len(p.frame) for p in self._queue)

    def _take(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].frame)
        while self._queue and rows + len(self._queue[0].frame) <= self.max_rows:
            item = self._queue.popleft()
            rows += len(item.frame)
            batch.append(item)
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.future.done()]  # timed-out callers are gone
        if not live:
            return
        rows = sum(len(p.frame) for p in live)
        self.batches += 1
        self.batched_rows += rows
        if self.on_batch is not None:
            self.on_batch(rows)
        if len(live) == 1:
            await self._one(live[0])
            return
        combined = pd.concat([p.frame for p in live], ignore_index=True)
        try:
            result = await run_in_threadpool(self.model.predict_validated, combined)
        except Exception:  # noqa: BLE001 - isolate the failing request(s)
            for pending in live:
                await self._one(pending)
            return
        start = 0
        for pending in live:
            end = start + len(pending.frame)
            part = Prediction(
                predictions=result.predictions[start:end],
                probabilities=(
                    result.probabilities[start:end] if result.probabilities is not None else None
                ),
            )
            if not pending.future.done():
                pending.future.set_result(part)
            start = end

    async def _one(self, pending: _Pending) -> None:
        try:
            result = await run_in_threadpool(self.model.predict_validated, pending.frame)
        except Exception as exc:  # noqa: BLE001 - delivered to the caller
            if not pending.future.done():
                pending.future.set_exception(exc)
            return
        if not pending.future.done():
            pending.future.set_result(result)
