"""--max-cost and --max-time: a job stops starting problems before its budget is passed.

The cap covers the whole job (every method of an eval, in turn); its time counts from the
first problem's start (loading the models and the first checks are not in it). Problems already in
flight finish and are recorded; none is started that the budget may not cover, so the
folder stays whole and the same command (with a larger budget) goes on from there.

What a problem will cost is not known before it runs: the estimate is the dearest
problem this run has paid for so far, and a problem starts only if every problem in
flight and it could cost that much and stay within the cap. Until one has finished, the
first runs alone (nothing is known yet); then `--concurrency` applies. Costs are what this run
pays (`spent`: a response-cache hit costs nothing), at the price table's prices; a
call whose price is unknown stops the job, since nothing could be promised after it.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class Budget:
    def __init__(self, max_cost: float | None = None, max_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.max_cost = max_cost
        self.max_seconds = max_seconds
        self.clock = clock
        self.started: float | None = None  # when the first problem started (not the loading)
        self.spent = 0.0
        self.dearest = 0.0  # the most one problem has cost this run
        self.known = False  # whether a problem has finished (and so its cost is known)
        self.reason: str | None = None  # why it stopped starting problems
        self._lock = threading.Lock()

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def add(self, record: dict) -> None:
        """A finished problem's record: what it cost this run."""
        if record.get("error") is not None:
            return
        cost = (record.get("spent") or {}).get("cost_usd")
        with self._lock:
            if cost is None:
                if self.max_cost is not None and self.reason is None:
                    self.reason = (f"--max-cost {self.max_cost:g}: a call's price is unknown "
                                   "(name it with --price MODEL=IN,OUT), so nothing more can be "
                                   "promised within the budget")
                return
            self.spent += cost
            self.dearest = max(self.dearest, cost)
            self.known = True

    def verdict(self, in_flight: int) -> str:
        """"go", "wait" (the first problem runs alone until its cost is known) or "stop" (the
        budget covers no more: `reason` says why)."""
        with self._lock:
            if self.reason is not None:
                return "stop"
            if self.started is None:
                self.started = self.clock()
            if self.max_seconds is not None and self.clock() - self.started >= self.max_seconds:
                self.reason = f"--max-time {self.max_seconds:g} s reached"
            elif self.max_cost is not None and not self.known and in_flight:
                return "wait"  # nothing is known of a problem's cost yet
            elif self.max_cost is not None \
                    and self.spent + (in_flight + 1) * self.dearest > self.max_cost + 1e-12:
                self.reason = (f"--max-cost {self.max_cost:g}: ${self.spent:.6f} spent, and the "
                               f"next problem may cost up to ${self.dearest:.6f}")
            return "stop" if self.reason is not None else "go"


def stopped_line(reason: str, out=None) -> str:
    """What a job a budget stopped says, as its last line (eval and solve --input alike)."""
    where = f"; what finished is in {out}" if out is not None else ""
    return f"stopped: {reason}{where}; the same command with a larger budget goes on"
