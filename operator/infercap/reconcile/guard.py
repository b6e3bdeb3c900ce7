"""Planning inside the operator without putting the operator at risk: off the event loop, under a
deadline, and with every failure turned into a condition.

The planner is pure CPU work. On the event loop a slow plan would stop every other reconcile, the
watches and the liveness probe; in a worker thread the loop keeps serving. The deadline is a second line
of defence: the CRD bounds every number and the planner's cost does not grow with traffic, so a plan
takes milliseconds, and one that does not finish in time is reported instead of waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from infercap.api.conditions import Reason
from infercap.core.errors import PlanError
from infercap.core.planner import Plan

log = logging.getLogger("infercap")


async def plan_guarded(make_plan: Callable[[], Plan], deadline_seconds: float) -> Plan:
    """Run `make_plan` in a worker thread; PlanError for a plan over the deadline or one that failed in a
    way the planner did not foresee (logged once with its traceback, reported as PlanFailed)."""
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def run() -> Plan:
        loop.call_soon_threadsafe(started.set)
        return make_plan()

    # The deadline counts from when a worker thread takes the plan up, not from when it was queued: a burst
    # of creations queues hundreds of plans behind the executor's few threads, and none of that is the
    # plan's own time (counted from the queue, 300 creations at once under tracemalloc reported PlanTimeout).
    done = asyncio.ensure_future(asyncio.to_thread(run))
    begun = asyncio.ensure_future(started.wait())
    try:
        await asyncio.wait({done, begun}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        begun.cancel()
    try:
        return await asyncio.wait_for(done, timeout=deadline_seconds)
    except PlanError:
        raise
    except TimeoutError:
        # The thread cannot be interrupted; it finishes on its own (plans are bounded) and is ignored.
        raise PlanError(
            Reason.PLAN_TIMEOUT,
            f"planning took longer than {deadline_seconds:g} s and was abandoned; lower spec.traffic or narrow "
            f"spec.accelerators",
            "spec",
        ) from None
    except Exception as e:  # any planner bug must end in a condition, not a crash loop
        log.exception("planner failed")
        raise PlanError(
            Reason.PLAN_FAILED,
            f"the planner failed on this spec ({type(e).__name__}); this is a bug in infercap",
            "spec",
        ) from None
