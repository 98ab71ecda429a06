from __future__ import annotations

import asyncio
import threading

import numpy as np
import pandas as pd
import pytest

from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature, float_frame
from modelyard.runtime.base import LoadedModel, Prediction
from modelyard.serving.batching import Batcher, combine

SIG = Signature(inputs=(ColumnSpec("x", "float"),), output=OutputSpec("regression"))


class Recording(LoadedModel):
    flavor = "test"

    def __init__(self) -> None:
        super().__init__(SIG)
        self.calls: list[int] = []
        self.gate = threading.Event()

    def _predict(self, frame: pd.DataFrame) -> Prediction:
        self.gate.wait(2)
        if (frame["x"] < 0).any():
            raise ValueError("negative")
        self.calls.append(len(frame))
        return Prediction(predictions=[float(v) * 2 for v in frame["x"]])


def frame(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(values)})


async def _run_many(batcher: Batcher, model: Recording, n: int) -> list[Prediction]:
    first = asyncio.ensure_future(batcher.predict(frame(0.0)))
    await asyncio.sleep(0.05)  # the first call is now running and holds the gate
    rest = [asyncio.ensure_future(batcher.predict(frame(float(i)))) for i in range(1, n)]
    await asyncio.sleep(0.05)
    model.gate.set()
    return await asyncio.gather(first, *rest)


def test_idle_request_runs_alone_then_queue_batches() -> None:
    model = Recording()
    batcher = Batcher(model, max_rows=64)
    results = asyncio.run(_run_many(batcher, model, 10))
    assert [r.predictions for r in results] == [[float(i) * 2] for i in range(10)]
    assert model.calls == [1, 9]


def test_max_rows_caps_a_batch() -> None:
    model = Recording()
    batcher = Batcher(model, max_rows=4)
    asyncio.run(_run_many(batcher, model, 10))
    assert model.calls == [1, 4, 4, 1]


def test_one_bad_request_fails_alone() -> None:
    model = Recording()
    model.gate.set()
    batcher = Batcher(model, max_rows=64)

    async def scenario() -> list[object]:
        hold = threading.Event()
        model.gate.clear()
        first = asyncio.ensure_future(batcher.predict(frame(1.0)))
        await asyncio.sleep(0.05)
        bad = asyncio.ensure_future(batcher.predict(frame(-1.0)))
        good = asyncio.ensure_future(batcher.predict(frame(3.0)))
        await asyncio.sleep(0.05)
        model.gate.set()
        hold.set()
        return await asyncio.gather(first, bad, good, return_exceptions=True)

    first, bad, good = asyncio.run(scenario())
    assert isinstance(bad, ValueError)
    assert first.predictions == [2.0] and good.predictions == [6.0]  # type: ignore[union-attr]


@pytest.mark.parametrize("wait_ms", [0.0, 5.0])
def test_wait_option_still_answers(wait_ms: float) -> None:
    model = Recording()
    model.gate.set()
    batcher = Batcher(model, max_rows=8, max_wait_ms=wait_ms)

    async def go() -> list[Prediction]:
        return await asyncio.gather(*(batcher.predict(frame(float(i))) for i in range(5)))

    assert [r.predictions[0] for r in asyncio.run(go())] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_timed_out_caller_gets_timeout_and_is_skipped() -> None:
    model = Recording()
    batcher = Batcher(model, max_rows=64)

    async def scenario() -> tuple[BaseException | None, Prediction]:
        first = asyncio.ensure_future(batcher.predict(frame(1.0)))
        await asyncio.sleep(0.05)  # running, blocked on the gate
        late = asyncio.ensure_future(batcher.predict(frame(2.0), timeout=0.05))
        kept = asyncio.ensure_future(batcher.predict(frame(3.0), timeout=5))
        error: BaseException | None = None
        try:
            await late
        except TimeoutError as exc:
            error = exc
        model.gate.set()
        await first
        return error, await kept

    error, kept = asyncio.run(scenario())
    assert isinstance(error, TimeoutError)
    assert kept.predictions == [6.0]
    assert model.calls == [1, 1]  # the timed-out request never reached the model


def test_combine_stacks_float_rows_like_concat() -> None:
    parts = [
        pd.DataFrame({"a": [1.5, 2.0], "b": [3.0, -1.0]}),
        pd.DataFrame({"a": [0.25], "b": [9.0]}),
    ]
    stacked = combine(parts, all_float=True)
    assert isinstance(stacked, np.ndarray)
    pd.testing.assert_frame_equal(
        float_frame(stacked, parts[0].columns), pd.concat(parts, ignore_index=True)
    )
    # Matrices (validate_rows) and frames stack together, in order.
    mixed_float = combine([np.array([[7.0, 8.0]]), parts[1]], all_float=True)
    np.testing.assert_array_equal(mixed_float, [[7.0, 8.0], [0.25, 9.0]])
    mixed = [pd.DataFrame({"a": [1], "s": ["x"]}), pd.DataFrame({"a": [2], "s": ["y"]})]
    pd.testing.assert_frame_equal(
        combine(mixed, all_float=False), pd.concat(mixed, ignore_index=True)
    )


class ThreadNoting(LoadedModel):
    """Notes which thread each call ran on; ``slow`` makes calls take 5 ms."""

    flavor = "test"
    bounded_compute = True

    def __init__(self) -> None:
        super().__init__(SIG)
        self.threads: list[int] = []
        self.slow = False

    def _predict(self, frame: pd.DataFrame) -> Prediction:
        import time

        self.threads.append(threading.get_ident())
        if self.slow:
            time.sleep(0.005)
        return Prediction(predictions=[float(v) for v in frame["x"]])


def test_fast_bounded_models_are_called_on_the_event_loop() -> None:
    model = ThreadNoting()
    batcher = Batcher(model, inline_max_ms=1.0)

    async def go() -> int:
        for i in range(5):
            await batcher.predict(frame(float(i)))
        model.slow = True
        for i in range(12):  # once most recent calls are slow: back to the pool
            await batcher.predict(frame(float(i)))
        return threading.get_ident()

    loop_thread = asyncio.run(go())
    assert model.threads[0] != loop_thread  # the first call, of unknown cost, in the pool
    assert model.threads[1:5] == [loop_thread] * 4
    # One slow call (say, a preemption) does not flip it; a run of them does.
    assert model.threads[5:8] == [loop_thread] * 3
    assert model.threads[-1] != loop_thread
    assert batcher.call_ms > 1.0


def test_models_running_user_code_never_run_on_the_event_loop() -> None:
    model = ThreadNoting()
    model.bounded_compute = False  # e.g. the python flavor

    async def go() -> int:
        for i in range(5):
            await batcher.predict(frame(float(i)))
        return threading.get_ident()

    batcher = Batcher(model)
    loop_thread = asyncio.run(go())
    assert loop_thread not in model.threads and batcher.inline_calls == 0


def test_a_fast_model_is_called_at_once_when_idle_and_batched_under_load() -> None:
    model = Recording()
    model.gate.set()
    model.bounded_compute = True  # a library model: calls may run on the event loop
    batcher = Batcher(model, max_rows=64, idle_gap_ms=20.0)
    batcher.call_ms = 0.01  # typical of a compiled model

    async def go() -> None:
        await asyncio.sleep(0.05)
        await batcher.predict(frame(1.0))  # idle: called at once
        assert model.calls == [1] and batcher.inline_calls == 1
        # Requests arriving right after a call (under load) wait one pass of the loop
        # and share it.
        await asyncio.gather(*(batcher.predict(frame(float(i))) for i in range(8)))
        assert model.calls == [1, 8]
        await asyncio.sleep(0.05)  # idle again
        await batcher.predict(frame(2.0))
        assert model.calls == [1, 8, 1]

    asyncio.run(go())
