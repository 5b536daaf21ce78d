"""Replay a workload against the real `Limiter` on a simulated clock: admission policy figures in milliseconds.

`simulate(config, server, calls=..., workers=...)` runs `workers` callers that each loop "acquire, call, release"
until `calls` calls have succeeded, against a `Server` model that mirrors the mock server's laws (fixed or
lognormal latency, a hard capacity answered with 429 + Retry-After, queueing beyond a knee). A rejected caller
waits its Retry-After plus jitter, as `OpenAILLM`'s retry policy does. Deterministic for a given seed.

Used by the unit tests of the limiter and by `bench/limiter_sim.py`; it exercises the policy only (no HTTP,
no event loop), so a figure here is an upper bound of what the real client reaches.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, field

from agentinstruct.llm.limits import LimitConfig, Limiter, Outcome, Permit


@dataclass(frozen=True, slots=True)
class Server:
    """The server model. Latency in seconds: `median` times a lognormal draw of shape `sigma` (0: fixed),
    capped at `max_latency`; with `queue_knee`, times `1 + max(0, in_flight - knee) / knee`; with `capacity`,
    calls beyond it are answered 429 at once with `retry_after`, a refusal for concurrency (`pause_all=False`,
    as `OpenAILLM` reports one that does not name a request or token rate) or by rate (`pause_all=True`)."""

    median: float = 0.2
    sigma: float = 0.0
    max_latency: float = 10.0
    capacity: int | None = None
    queue_knee: int | None = None
    retry_after: float = 1.0
    pause_all: bool = False

    def latency(self, in_flight: int, rng: random.Random) -> float:
        value = self.median * (math.exp(self.sigma * rng.gauss(0.0, 1.0)) if self.sigma > 0 else 1.0)
        value = min(value, self.max_latency)
        if self.queue_knee is not None:
            value *= 1.0 + max(0, in_flight - self.queue_knee) / self.queue_knee
        return value


@dataclass(slots=True)
class SimResult:
    """What one replay measured."""

    calls: int
    wall_s: float
    rejected: int
    latencies: list[float] = field(repr=False)
    limits: list[int] = field(repr=False)
    mean_in_flight: float
    budget: int

    @property
    def goodput(self) -> float:
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def rejected_per_success(self) -> float:
        return self.rejected / self.calls if self.calls else 0.0

    def latency_quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def in_flight_fraction(self) -> float:
        return self.mean_in_flight / self.budget


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(
    config: LimitConfig,
    server: Server,
    *,
    calls: int,
    workers: int | None = None,
    seed: int = 0,
    backoff_base_s: float = 0.5,
    client_overhead_s: float = 0.0,
) -> SimResult:
    """Run `calls` successful calls through a fresh limiter; `workers` callers (default: the budget)."""
    rng = random.Random(seed)
    clock = _Clock()
    limiter = Limiter(config, clock=clock)
    workers = config.concurrency if workers is None else workers
    # events: (time, order, kind, payload); kinds: "done" (permit, latency, rejected), "ready" (a caller)
    events: list[tuple[float, int, str, tuple[Permit, float, bool] | None]] = []
    order = itertools.count()
    waiting = min(workers, calls)  # callers queued for admission, FIFO and identical, so a count will do
    unassigned = calls - waiting  # work items no caller has taken yet
    server_in_flight = 0
    succeeded = 0
    rejected = 0
    latencies: list[float] = []
    limits: list[int] = []
    wake_at = math.inf

    def admit() -> None:
        nonlocal waiting, server_in_flight, wake_at, rejected
        while waiting > 0 and (permit := limiter.try_acquire()) is not None:
            waiting -= 1
            if server.capacity is not None and server_in_flight >= server.capacity:
                rejected += 1
                heapq.heappush(events, (clock.now + 0.001, next(order), "done", (permit, 0.001, True)))
                continue
            server_in_flight += 1
            latency = server.latency(server_in_flight, rng) + client_overhead_s
            heapq.heappush(events, (clock.now + latency, next(order), "done", (permit, latency, False)))
        if waiting > 0 and limiter.in_flight < limiter.cap:
            paused = limiter.stats().paused_for_s
            if paused > 0 and clock.now + paused < wake_at:
                wake_at = clock.now + paused
                heapq.heappush(events, (wake_at, next(order), "wake", None))

    admit()
    while succeeded < calls and events:
        at, _, kind, payload = heapq.heappop(events)
        clock.now = at
        if kind == "wake":
            wake_at = math.inf
        elif kind == "ready":
            waiting += 1
        else:
            assert payload is not None
            permit, latency, was_rejected = payload
            if was_rejected:
                limiter.release(
                    permit,
                    Outcome.RATE_LIMITED,
                    latency_s=latency,
                    retry_after_s=server.retry_after,
                    pause_all=server.pause_all,
                )
                delay = server.retry_after + rng.uniform(0.0, backoff_base_s)
                heapq.heappush(events, (clock.now + delay, next(order), "ready", None))
            else:
                server_in_flight -= 1
                limiter.release(permit, Outcome.SUCCESS, latency_s=latency)
                latencies.append(latency)
                succeeded += 1
                limits.append(limiter.cap)
                if unassigned > 0:
                    unassigned -= 1
                    waiting += 1
        admit()
    stats = limiter.stats()
    return SimResult(
        calls=succeeded,
        wall_s=clock.now,
        rejected=rejected,
        latencies=latencies,
        limits=limits,
        mean_in_flight=stats.mean_in_flight,
        budget=config.concurrency,
    )
