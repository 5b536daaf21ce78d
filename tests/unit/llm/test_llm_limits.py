"""Admission control: header parsing, buckets, AIMD on 429s, latency back-pressure, the async front door."""

from __future__ import annotations

import asyncio
import email.utils
import heapq
import itertools
import math
import time
from dataclasses import replace

import pytest

from agentinstruct.llm import (
    LimitConfig,
    Limiter,
    LimiterRegistry,
    Outcome,
    Permit,
    RateLimitHeaders,
    parse_duration,
    parse_retry_after,
)
from agentinstruct.testing.limiter_sim import Server
from agentinstruct.testing.limiter_sim import simulate as simulate_workload


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fill(limiter: Limiter, tokens: int = 0) -> list[Permit]:
    permits: list[Permit] = []
    while (permit := limiter.try_acquire(tokens)) is not None:
        permits.append(permit)
    return permits


# -- parsing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("250ms", 0.25),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("17", 17.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("100us", 1e-4),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "abc", "1x", "s", "5m junk", "-1"])
def test_parse_duration_rejects(text: str | None) -> None:
    assert parse_duration(text) is None


def test_parse_retry_after_variants() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert parse_retry_after({"retry-after": "7"}) == pytest.approx(7.0)
    assert parse_retry_after({"retry-after-ms": "nonsense", "retry-after": "2"}) == pytest.approx(2.0)
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0, abs=1.0)
    assert parse_retry_after({"retry-after": "not a date"}) is None


def test_ratelimit_headers_parse() -> None:
    assert RateLimitHeaders.from_headers({"content-type": "application/json"}) is None
    info = RateLimitHeaders.from_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )
    assert info == RateLimitHeaders(500, 30000, 499, 29000, 0.12, 360.0)


# -- concurrency and AIMD on 429 ------------------------------------------------------------------------


def test_budget_is_never_exceeded() -> None:
    limiter = Limiter(LimitConfig(concurrency=5, adaptive=False), clock=FakeClock())
    permits = fill(limiter)
    assert len(permits) == 5
    limiter.release(permits[0], Outcome.SUCCESS, latency_s=0.1)
    assert len(fill(limiter)) == 1
    assert limiter.stats().peak_in_flight == 5


def test_429_halves_once_per_episode_and_pauses() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=32, latency_backpressure=False), clock=clock)
    permits = fill(limiter)
    assert len(permits) == 32
    limiter.release(permits[0], Outcome.RATE_LIMITED, retry_after_s=2.0)
    assert limiter.cap == 16
    # the other calls of the same burst were admitted before the decrease: no further halving
    for permit in permits[1:10]:
        limiter.release(permit, Outcome.RATE_LIMITED, retry_after_s=2.0)
    assert limiter.cap == 16
    for permit in permits[10:]:
        limiter.release(permit, Outcome.FAILURE)
    assert limiter.in_flight == 0
    assert limiter.try_acquire() is None, "admissions are paused until Retry-After has elapsed"
    clock.advance(1.9)
    assert limiter.try_acquire() is None
    clock.advance(0.2)
    assert len(fill(limiter)) == 16
    stats = limiter.stats()
    assert stats.decreases_rate_limit == 1
    assert stats.rate_limited == 10


def test_limit_never_drops_below_one() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=8, latency_backpressure=False), clock=clock)
    for _ in range(10):
        permit = limiter.try_acquire()
        assert permit is not None
        limiter.release(permit, Outcome.RATE_LIMITED)
    assert limiter.cap == 1


def cycle_successes(limiter: Limiter, count: int) -> None:
    """`count` successes while the limit is binding: the limiter is full each time one completes."""
    permits = fill(limiter)
    for _ in range(count):
        limiter.release(permits.pop(0), Outcome.SUCCESS, latency_s=1.0)
        permits.extend(fill(limiter))
    for permit in permits:
        limiter.release(permit, Outcome.CANCELLED)


def test_additive_increase_after_a_429() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=8, latency_backpressure=False), clock=clock)
    permit = fill(limiter)
    limiter.release(permit[0], Outcome.RATE_LIMITED)  # hit at 8: known-good level 7, limit 4
    for p in permit[1:]:
        limiter.release(p, Outcome.FAILURE)
    assert limiter.cap == 4
    assert limiter.stats().ceiling == 7
    # below the known-good level the limit regrows by 1 every limit/2 successes
    cycle_successes(limiter, 2)
    assert limiter.cap == 5
    cycle_successes(limiter, 2 + 3)
    assert limiter.cap == 7
    # at the known-good level probing is +1 per `limit` successes
    cycle_successes(limiter, 6)
    assert limiter.cap == 7
    cycle_successes(limiter, 1)
    assert limiter.cap == 8
    assert limiter.stats().increases == 4


def test_plain_additive_increase_is_one_per_limit_successes() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=12, latency_backpressure=False), clock=clock)
    limiter.set_budget(12)
    # bring the limit down by 429s in separate episodes at decreasing levels (no known-good level yet)
    limiter._ceiling = None
    limiter._limit = 6.0
    cycle_successes(limiter, 5)
    assert limiter.cap == 6
    cycle_successes(limiter, 1)
    assert limiter.cap == 7
    cycle_successes(limiter, 7)
    assert limiter.cap == 8


def test_successes_when_not_binding_do_not_grow_the_limit() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=8, latency_backpressure=False), clock=clock)
    permits = fill(limiter)
    limiter.release(permits[0], Outcome.RATE_LIMITED)
    for p in permits[1:]:
        limiter.release(p, Outcome.FAILURE)
    before = limiter.cap
    for _ in range(50):
        permit = limiter.try_acquire()
        assert permit is not None
        limiter.release(permit, Outcome.SUCCESS, latency_s=1.0)
    assert limiter.cap == before


def test_failed_probe_steps_back_without_pause_and_probes_less_often() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=8, latency_backpressure=False), clock=clock)
    permits = fill(limiter)
    limiter.release(permits[0], Outcome.RATE_LIMITED, retry_after_s=1.0)
    for p in permits[1:]:
        limiter.release(p, Outcome.CANCELLED)
    clock.advance(1.5)
    cycle_successes(limiter, 2 + 2 + 3 + 7)
    assert limiter.cap == 8  # probing above the known-good level 7
    permits = fill(limiter)
    limiter.release(permits[0], Outcome.RATE_LIMITED, retry_after_s=1.0)
    assert limiter.cap == 7, "a failed probe steps back to the known-good level, no halving"
    for p in permits[1:]:
        limiter.release(p, Outcome.CANCELLED)
    assert limiter.stats().paused_for_s == 0.0, "no pause after a failed probe"
    # the next probe needs twice as many successes (2 x 7)
    cycle_successes(limiter, 13)
    assert limiter.cap == 7
    cycle_successes(limiter, 1)
    assert limiter.cap == 8


def test_not_adaptive_keeps_the_budget_but_honours_retry_after() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=4, adaptive=False), clock=clock)
    permits = fill(limiter)
    limiter.release(permits[0], Outcome.RATE_LIMITED, retry_after_s=1.0)
    assert limiter.cap == 4
    assert limiter.try_acquire() is None
    clock.advance(1.01)
    assert limiter.try_acquire() is not None


def test_set_budget_at_runtime() -> None:
    limiter = Limiter(LimitConfig(concurrency=4, adaptive=False), clock=FakeClock())
    assert len(fill(limiter)) == 4
    limiter.set_budget(6)
    assert len(fill(limiter)) == 2
    limiter.set_budget(2)
    assert limiter.cap == 2
    assert limiter.try_acquire() is None


# -- latency back-pressure (simulated servers on a fake clock) ------------------------------------------


def simulate(
    limiter: Limiter,
    clock: FakeClock,
    latency: object,
    completions: int,
) -> list[int]:
    """Keep the limiter full of work against a server whose latency is `latency(in_flight, now)`.

    Returns the limit after each completion.
    """
    assert callable(latency)
    events: list[tuple[float, int, Permit, float]] = []
    order = itertools.count()
    limits: list[int] = []

    def admit() -> None:
        while (permit := limiter.try_acquire()) is not None:
            duration = float(latency(limiter.in_flight, clock.now))
            heapq.heappush(events, (clock.now + duration, next(order), permit, duration))

    admit()
    for _ in range(completions):
        at, _, permit, duration = heapq.heappop(events)
        clock.now = at
        limiter.release(permit, Outcome.SUCCESS, latency_s=duration)
        limits.append(limiter.cap)
        admit()
    return limits


def queueing(knee: int, base: float = 1.0) -> object:
    """A server that never refuses: beyond `knee` calls in flight, latency grows in proportion."""
    return lambda in_flight, now: base * max(1.0, in_flight / knee)


def test_latency_backpressure_converges_near_the_knee_of_a_queueing_server() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=64), clock=clock)
    limits = simulate(limiter, clock, queueing(knee=8), completions=6000)
    tail = limits[len(limits) // 2 :]
    mean = sum(tail) / len(tail)
    assert 8 <= mean <= 20, mean
    assert max(tail) <= 24, "no wild swings once converged"
    assert min(tail) >= 8
    assert limiter.stats().decreases_latency > 0


def test_no_latency_decrease_when_throughput_grows_with_concurrency() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=64), clock=clock)
    limits = simulate(limiter, clock, lambda in_flight, now: 1.0, completions=3000)
    assert limits[-1] == 64
    assert limiter.stats().decreases_latency == 0


def test_a_slower_workload_is_not_mistaken_for_queueing() -> None:
    clock = FakeClock()
    start = clock.now
    limiter = Limiter(LimitConfig(concurrency=64), clock=clock)

    # every call becomes 3x slower after a while, whatever the in-flight count (e.g. longer answers)
    def latency(in_flight: int, now: float) -> float:
        return 1.0 if now - start < 40 else 3.0

    limits = simulate(limiter, clock, latency, completions=6000)
    assert limits[-1] == 64
    assert limiter.stats().decreases_latency == 0


def test_slow_start_doubles_up_to_the_budget() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=64), clock=clock)
    assert limiter.cap == 8
    assert limiter.stats().slow_start
    limits = simulate(limiter, clock, lambda in_flight, now: 1.0, completions=200)
    assert sorted(set(limits)) == [8, 16, 32, 64]
    assert not limiter.stats().slow_start


# -- whole workloads replayed on a simulated clock (agentinstruct.testing.limiter_sim) ----------------------


def test_queueing_server_p99_within_twice_unloaded_at_full_goodput() -> None:
    # the bench's queueing scenario: 1,000 calls, 64 callers, 200 ms, slower in proportion beyond 16 in flight
    result = simulate_workload(LimitConfig(concurrency=64), Server(median=0.2, queue_knee=16), calls=1000)
    best_fixed = 16 / 0.2  # throughput is flat past the knee
    assert result.goodput >= 0.9 * best_fixed
    assert result.latency_quantile(0.99) <= 2.0 * 0.2 + 1e-9
    assert 16 <= sum(result.limits[-300:]) / 300 <= 28, "settles a little past the knee"


def test_slow_start_stops_at_the_first_doubling_that_only_adds_latency() -> None:
    result = simulate_workload(LimitConfig(concurrency=64), Server(median=0.2, queue_knee=8), calls=400)
    assert max(result.limits) <= 16, "8 -> 16 showed queueing: no doubling to 32"


def test_concurrency_429s_cut_the_limit_without_stopping_the_calls_in_flight() -> None:
    # the bench's capacity scenario: the server takes 16 in flight and refuses the rest with Retry-After 1 s
    refusing = Server(median=0.2, capacity=16, retry_after=1.0)
    result = simulate_workload(LimitConfig(concurrency=64), refusing, calls=1000)
    assert result.goodput >= 0.95 * 16 / 0.2
    assert result.rejected_per_success <= 0.05
    # the same refusals read as rate refusals pause everybody for the Retry-After: slower
    paused = simulate_workload(LimitConfig(concurrency=64), replace(refusing, pause_all=True), calls=1000)
    assert paused.wall_s > result.wall_s


@pytest.mark.parametrize("seed", range(8))
def test_heavy_tailed_latency_is_not_mistaken_for_queueing(seed: int) -> None:
    # lognormal answer times (median 500 ms, sigma 1) that do not depend on load: the limit reaches the budget
    # in a few round trips and stays there
    result = simulate_workload(LimitConfig(concurrency=128), Server(median=0.5, sigma=1.0), calls=3000, seed=seed)
    reached = next(i for i, limit in enumerate(result.limits) if limit >= 128)
    assert reached <= 400
    assert min(result.limits[reached:]) >= 100


def test_short_run_at_fixed_latency_is_near_ideal() -> None:
    result = simulate_workload(LimitConfig(concurrency=64), Server(median=0.2), calls=10_000)
    ideal = math.ceil(10_000 / 64) * 0.2
    assert result.wall_s <= 1.05 * ideal


# -- rate buckets and provider headers ------------------------------------------------------------------


def test_request_bucket() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=100, rpm=60, adaptive=False, burst_s=10.0), clock=clock)
    assert len(fill(limiter)) == 10  # ten seconds' worth
    clock.advance(0.5)
    assert limiter.try_acquire() is None
    clock.advance(0.5)
    assert limiter.try_acquire() is not None


def test_token_bucket_estimate_and_correction() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=100, tpm=6000, adaptive=False, burst_s=10.0), clock=clock)
    first = limiter.try_acquire(800)
    assert first is not None
    assert limiter.try_acquire(800) is None  # 200 left of 1000
    limiter.release(first, Outcome.SUCCESS, tokens_used=100)  # 700 given back
    assert limiter.try_acquire(800) is not None


def test_request_larger_than_the_bucket_is_slowed_not_starved() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=100, tpm=600, adaptive=False, burst_s=10.0), clock=clock)
    assert limiter.try_acquire(5000) is not None  # a full bucket admits it, going into debt
    assert limiter.try_acquire(10) is None
    clock.advance(60)
    assert limiter.try_acquire(10) is None
    clock.advance(445)
    assert limiter.try_acquire(10) is not None


def test_headers_set_rates_and_hold_until_reset() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=100, adaptive=False), clock=clock)
    limiter.update_from_headers(
        {
            "x-ratelimit-limit-requests": "120",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "6m0s",
            "x-ratelimit-limit-tokens": "100000",
            "x-ratelimit-remaining-tokens": "90000",
            "x-ratelimit-reset-tokens": "1s",
        }
    )
    stats = limiter.stats()
    assert stats.rpm == 120
    assert stats.tpm == 100000
    assert limiter.try_acquire() is None
    clock.advance(359)
    assert limiter.try_acquire() is None
    clock.advance(2)
    assert limiter.try_acquire() is not None


def test_headers_never_raise_a_configured_rate() -> None:
    limiter = Limiter(LimitConfig(concurrency=10, rpm=60, adaptive=False), clock=FakeClock())
    limiter.update_from_headers({"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999"})
    assert limiter.stats().rpm == 60
    limiter.update_from_headers({"x-ratelimit-limit-requests": "30"})
    assert limiter.stats().rpm == 30


def test_remaining_clamps_the_bucket() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=100, rpm=600, adaptive=False, burst_s=10.0), clock=clock)
    limiter.update_from_headers({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "1s"})
    assert len(fill(limiter)) == 3


# -- statistics ---------------------------------------------------------------------------------------------


def test_time_weighted_mean_in_flight() -> None:
    clock = FakeClock()
    limiter = Limiter(LimitConfig(concurrency=4, adaptive=False), clock=clock)
    a = limiter.try_acquire()
    b = limiter.try_acquire()
    assert a is not None and b is not None
    clock.advance(1.0)
    limiter.release(a, Outcome.SUCCESS)
    clock.advance(1.0)
    limiter.release(b, Outcome.SUCCESS)
    stats = limiter.stats()
    assert stats.peak_in_flight == 2
    assert stats.mean_in_flight == pytest.approx(1.5)
    assert stats.mean_in_flight_fraction == pytest.approx(1.5 / 4)
    assert stats.completed == 2
    limiter.reset_stats()
    assert limiter.stats().peak_in_flight == 0


def test_double_release_is_ignored() -> None:
    limiter = Limiter(LimitConfig(concurrency=2, adaptive=False), clock=FakeClock())
    permit = limiter.try_acquire()
    assert permit is not None
    limiter.release(permit, Outcome.SUCCESS)
    limiter.release(permit, Outcome.SUCCESS)
    assert limiter.in_flight == 0
    assert limiter.stats().completed == 1


def test_registry_shares_one_limiter_per_endpoint_and_model() -> None:
    registry = LimiterRegistry()
    config = LimitConfig(concurrency=3)
    a = registry.get("http://x/v1/", "m", config)
    assert registry.get("http://x/v1", "m", LimitConfig(concurrency=99)) is a
    assert registry.get("http://x/v1", "other", config) is not a
    assert set(registry.stats()) == {"http://x/v1|m", "http://x/v1|other"}


# -- the asyncio front door ---------------------------------------------------------------------------------


async def test_acquire_waits_in_fifo_order() -> None:
    limiter = Limiter(LimitConfig(concurrency=1, adaptive=False))
    first = await limiter.acquire()
    order: list[int] = []

    async def waiter(i: int) -> None:
        permit = await limiter.acquire()
        order.append(i)
        await asyncio.sleep(0)
        limiter.release(permit, Outcome.SUCCESS)

    tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert limiter.waiting == 5
    limiter.release(first, Outcome.SUCCESS)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert limiter.stats().peak_in_flight == 1


async def test_waiting_calls_go_by_priority_then_arrival() -> None:
    limiter = Limiter(LimitConfig(concurrency=1, adaptive=False))
    first = await limiter.acquire()
    order: list[str] = []

    async def waiter(name: str, priority: int) -> None:
        permit = await limiter.acquire(priority=priority)
        order.append(name)
        await asyncio.sleep(0)
        limiter.release(permit, Outcome.SUCCESS)

    tasks = []
    for name, priority in (("t1", 0), ("t2", 0), ("j1", 4), ("e1", 2), ("j2", 4), ("t3", 0)):
        tasks.append(asyncio.create_task(waiter(name, priority)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    limiter.release(first, Outcome.SUCCESS)
    await asyncio.gather(*tasks)
    assert order == ["j1", "j2", "e1", "t1", "t2", "t3"]


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = Limiter(LimitConfig(concurrency=1, adaptive=False))
    first = await limiter.acquire()
    task = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    limiter.release(first, Outcome.SUCCESS)
    assert limiter.in_flight == 0
    second = await asyncio.wait_for(limiter.acquire(), 1.0)
    limiter.release(second, Outcome.SUCCESS)


async def test_cancel_after_grant_returns_the_slot() -> None:
    limiter = Limiter(LimitConfig(concurrency=1, adaptive=False))
    first = await limiter.acquire()
    task = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    limiter.release(first, Outcome.SUCCESS)  # grants the slot to the waiter ...
    task.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.in_flight == 0


async def test_pause_wakes_waiters_when_it_ends() -> None:
    limiter = Limiter(LimitConfig(concurrency=4, adaptive=False))
    permit = await limiter.acquire()
    limiter.release(permit, Outcome.RATE_LIMITED, retry_after_s=0.2)
    started = time.monotonic()
    again = await asyncio.wait_for(limiter.acquire(), 2.0)
    assert time.monotonic() - started >= 0.18
    limiter.release(again, Outcome.SUCCESS)


async def test_bucket_wait_wakes_waiters() -> None:
    limiter = Limiter(LimitConfig(concurrency=4, rpm=600, adaptive=False, burst_s=0.1))
    permit = await limiter.acquire()  # capacity 1, refills at 10/s
    started = time.monotonic()
    second = await asyncio.wait_for(limiter.acquire(), 2.0)
    assert 0.05 <= time.monotonic() - started < 1.0
    limiter.release(permit, Outcome.SUCCESS)
    limiter.release(second, Outcome.SUCCESS)
