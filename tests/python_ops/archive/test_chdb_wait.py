"""`--wait` on a chDB directory held by another process (python_ops/archive/apply.py `_when_free`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from python_ops.archive import apply
from python_ops.engines.clickhouse import ChdbBusyError
from python_ops.errors import EngineError


def _opens(*outcomes: Exception | None) -> tuple[Callable[[], str], list[int]]:
    """A call that raises each outcome in turn (None: it opens), and how often it was called."""
    calls = [0]

    def open_() -> str:
        outcome = outcomes[min(calls[0], len(outcomes) - 1)]
        calls[0] += 1
        if outcome is not None:
            raise outcome
        return "client"

    return open_, calls


def test_after_a_wait_the_holders_shutdown_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "_BUSY_POLL_S", 0.01)
    busy, starting = ChdbBusyError("held by pid 1"), EngineError("cannot open ClickHouse")
    open_, calls = _opens(busy, busy, starting, starting, None)
    assert apply._when_free(open_, wait=True) == "client" and calls[0] == 5
    with pytest.raises(ChdbBusyError):  # without --wait the holder is named at once
        apply._when_free(_opens(busy, None)[0], wait=False)


def test_an_engine_error_without_a_holder_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "_BUSY_POLL_S", 0.01)
    open_, calls = _opens(EngineError("cannot open ClickHouse: home not writable"))
    with pytest.raises(EngineError):
        apply._when_free(open_, wait=True)
    assert calls[0] == 1
    monkeypatch.setattr(apply, "_RELEASE_GRACE_S", 0.05)  # and after a wait, only for the grace period
    open_, calls = _opens(ChdbBusyError("held"), EngineError("still refusing"))
    with pytest.raises(EngineError):
        apply._when_free(open_, wait=True)
    assert 3 <= calls[0] <= 10
