"""Planning off the event loop under a deadline (reconcile.guard): the deadline is the plan's own time, so
a burst of reconciles queued behind the executor's threads does not end in PlanTimeout; a plan that does
run too long does, and an unforeseen planner failure is a PlanFailed condition."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infercap.api.conditions import Reason
from infercap.core.errors import PlanError
from infercap.reconcile.guard import plan_guarded


def sleeper(seconds: float, value: Any) -> Any:
    def run() -> Any:
        time.sleep(seconds)
        return value

    return run


def test_time_queued_behind_other_plans_is_not_the_plans_own() -> None:
    async def main() -> list[Any]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        # Three plans of 0.2 s on one thread: the last waits 0.4 s in the queue, twice its deadline.
        return await asyncio.gather(*(plan_guarded(sleeper(0.2, i), deadline_seconds=0.35) for i in range(3)))

    assert asyncio.run(main()) == [0, 1, 2]


def test_a_plan_over_its_deadline_is_a_plan_timeout() -> None:
    async def main() -> Any:
        return await plan_guarded(sleeper(0.5, "late"), deadline_seconds=0.1)

    with pytest.raises(PlanError) as e:
        asyncio.run(main())
    assert e.value.reason == Reason.PLAN_TIMEOUT


def test_an_unforeseen_failure_is_plan_failed() -> None:
    def broken() -> Any:
        raise ZeroDivisionError

    with pytest.raises(PlanError) as e:
        asyncio.run(plan_guarded(broken, deadline_seconds=1))
    assert e.value.reason == Reason.PLAN_FAILED
