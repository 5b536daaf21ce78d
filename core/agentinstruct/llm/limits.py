"""Admission control for LLM calls: one `Limiter` per (endpoint, model), shared by every caller in the process.

A call is admitted, by priority then in arrival order (`acquire(priority=...)`), when three things allow it:

* The concurrency limit: at most `limit` calls in flight. With `adaptive` off, `limit` is the configured
  budget. With it on (AIMD), `limit` starts at the budget, or, when latency back-pressure is on too, at 8
  doubled every round trip up to the budget ("slow start", so the uncongested latency is seen once), and:
  - a 429 halves it (never below 1); only the first 429 of a congestion episode counts (calls admitted before
    the last decrease do not decrease it again). A refusal by request or token rate (`pause_all`, which
    `OpenAILLM` sets when the provider's remaining count is 0 or its message names a rate or quota) also
    pauses every admission until its Retry-After has elapsed; a refusal for concurrency does not: the calls
    in flight are fine, and the refused call waits on its own;
  - every `limit` successes while the limit is binding add 1, up to the budget. The level a 429 was hit at
    is remembered: below it the limit regrows twice as fast; at or above it probing is slower, each further
    429 at about the same level halves the probing rate again (down to 1/32), and a 429 on such a probe
    only steps back to the known-good level, without halving or pausing the others (the rejected call
    itself still waits its Retry-After). A hard capacity therefore costs little once found;
  - latency back-pressure, for servers that queue instead of refusing. Each window follows a cohort, the next
    `max(min_window, limit)` calls admitted after the window opened (a window opens at every multiplicative
    change of the limit, so its calls all ran under one limit), and is judged once `window_completion` of
    the cohort is back and at least `min_window_s` has passed: (mean in-flight over the span, the cohort's
    median latency, throughput by Little's law = in-flight / median). The limit comes down (x0.8; in slow
    start x0.5, back to the last level that was not slow) when all hold:
      - the window's median latency is above `latency_tolerance` times the uncongested reference (the window
        with the lowest median allowing for its noise), more than `min_latency_delta_s` above it (queueing
        that adds less than that to a call is not worth managing), and more than `latency_significance`
        standard errors of the two medians apart (two windows of a heavy-tailed law differ by chance);
      - the extra calls in flight bought less than half the average throughput per call: the secant from the
        best earlier window run at least `min_spread` fewer calls in flight;
      - and latency rises with load: across the recent windows, median latency correlates with in-flight
        (Pearson r >= `min_latency_correlation`). Heavy-tailed answer times that do not depend on load
        (a busy provider, long answers) are noise, not queueing, and must not shrink the limit.
    A slow window that fails the other two tests does not end slow start. The level of a latency decrease is
    remembered: at or above it the additive increase is `latency_probe_factor` times slower, until a window
    well past it shows no slow-down. The limit settles a little past the knee, where latency is about
    `latency_tolerance` times the uncongested one.
* The request and token buckets: per minute, refilled continuously, holding `burst_s` seconds' worth. The
  token cost is estimated before the call and corrected with the real usage after it. Provider
  `x-ratelimit-*` headers lower the rates (never above what was configured) and clamp the buckets.
* No pause in force: a Retry-After, or a provider bucket that reported 0 remaining until its reset.

`stats()` reports in-flight, peak and the time-weighted mean of in-flight calls (also as a fraction of the
budget). The policy is synchronous and reads the time from `clock`, so it can be tested with a fake clock;
`acquire()` is the asyncio front door, `try_acquire()` the non-waiting one.
"""

from __future__ import annotations

import asyncio
import email.utils
import heapq
import itertools
import math
import re
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str | None) -> float | None:
    """Seconds in a provider duration: `6m0s`, `1s`, `250ms`, `1h2m3.5s`, or a bare number of seconds."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    pos = 0
    total = 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); None if absent."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if math.isfinite(value) and value >= 0:
            return value
    text = headers.get("retry-after")
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The `x-ratelimit-*` headers of one response; durations in seconds."""

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitHeaders | None:
        """Parse the headers; None when the response carries none of them (the common local-server case)."""
        remaining_requests = headers.get("x-ratelimit-remaining-requests")
        remaining_tokens = headers.get("x-ratelimit-remaining-tokens")
        limit_requests = headers.get("x-ratelimit-limit-requests")
        limit_tokens = headers.get("x-ratelimit-limit-tokens")
        if remaining_requests is None and remaining_tokens is None and limit_requests is None and limit_tokens is None:
            return None
        return cls(
            limit_requests=_int_or_none(limit_requests),
            limit_tokens=_int_or_none(limit_tokens),
            remaining_requests=_int_or_none(remaining_requests),
            remaining_tokens=_int_or_none(remaining_tokens),
            reset_requests_s=parse_duration(headers.get("x-ratelimit-reset-requests")),
            reset_tokens_s=parse_duration(headers.get("x-ratelimit-reset-tokens")),
        )


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


class TokenBucket:
    """A per-minute budget refilled continuously, holding `burst_s` seconds' worth (at least one unit).

    A request larger than the capacity is admitted when the bucket is full and drives it negative, so big
    requests are slowed down, never starved.
    """

    def __init__(self, per_minute: float, *, burst_s: float, now: float) -> None:
        self.burst_s = burst_s
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.updated = now
        self.hold_until = 0.0

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float, amount: float) -> float:
        """Seconds until `amount` can be taken (0 if now)."""
        self._refill(now)
        need = min(amount, self.capacity)
        wait = 0.0 if self.level >= need else (need - self.level) / self.rate
        return max(wait, self.hold_until - now)

    def take(self, now: float, amount: float) -> None:
        self._refill(now)
        self.level -= amount

    def give_back(self, now: float, amount: float) -> None:
        """Return an over-estimate (`amount` > 0) or charge an under-estimate (`amount` < 0)."""
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)

    def set_rate(self, now: float, per_minute: float) -> None:
        self._refill(now)
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * self.burst_s)
        self.level = min(self.level, self.capacity)

    def clamp(self, now: float, remaining: int, reset_s: float | None) -> None:
        """Align with the provider: never more than it says remains; if nothing remains, hold until reset."""
        self._refill(now)
        self.level = min(self.level, float(remaining))
        if remaining <= 0 and reset_s is not None and reset_s > 0:
            self.hold_until = max(self.hold_until, now + reset_s)


class Outcome(StrEnum):
    """How an admitted call ended, as far as admission control cares."""

    SUCCESS = "success"  # the server answered (whether or not the answer was usable)
    RATE_LIMITED = "rate_limited"  # a 429
    FAILURE = "failure"  # any other error: no congestion signal
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LimitConfig:
    """Knobs of one limiter (see the module docstring). `OpenAILLM` fills the first five from `LLMSettings`;
    to tune the rest, register the limiter first: `registry.get(endpoint, model, LimitConfig(...))`."""

    concurrency: int = 64
    rpm: int | None = None
    tpm: int | None = None
    adaptive: bool = True
    latency_backpressure: bool = True
    decrease_factor: float = 0.5
    latency_decrease_factor: float = 0.8
    latency_tolerance: float = 1.5
    min_latency_delta_s: float = 0.05
    min_window: int = 16
    min_window_s: float = 0.1
    slow_start_initial: int = 8
    slow_start_factor: float = 2.0
    burst_s: float = 10.0
    max_pause_s: float = 300.0
    baseline_windows: int = 200
    history_windows: int = 12
    max_probe_factor: int = 32
    min_spread: float = 0.15
    min_marginal_gain: float = 0.5
    min_latency_correlation: float = 0.45
    latency_probe_factor: int = 8
    window_completion: float = 0.8
    latency_significance: float = 3.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")


@dataclass(slots=True, eq=False)
class Permit:
    """One admitted call; hand it back with `Limiter.release`."""

    tokens: int
    admitted_at: float
    generation: int
    window: int = -1
    released: bool = False


@dataclass(frozen=True, slots=True)
class LimiterStats:
    """A limiter's state and counters since creation (or `reset_stats`); means are time-weighted."""

    name: str
    budget: int
    limit: int
    in_flight: int
    peak_in_flight: int
    mean_in_flight: float
    mean_in_flight_fraction: float
    mean_limit: float
    waiting: int
    admitted: int
    completed: int
    failed: int
    cancelled: int
    rate_limited: int
    increases: int
    decreases_rate_limit: int
    decreases_latency: int
    slow_start: bool
    ceiling: float | None
    paused_for_s: float
    baseline_latency_s: float | None
    rpm: float | None
    tpm: float | None
    elapsed_s: float


class _Window(NamedTuple):
    mean_in_flight: float
    p50: float
    throughput: float
    log_sigma: float = 0.0  # spread of ln(latency) within the window (IQR / 1.349: robust to heavy tails)
    samples: int = 1


def _log_sigma(latencies: list[float]) -> float:
    logs = sorted(math.log(max(value, 1e-6)) for value in latencies)
    n = len(logs)
    if n < 4:
        return 0.0
    return (logs[(3 * n) // 4] - logs[n // 4]) / 1.349


@dataclass(slots=True)
class _Waiter:
    tokens: int
    future: asyncio.Future[Permit] = field(repr=False)


def _marginal_throughput(windows: list[_Window], min_spread: float) -> float | None:
    """What the latest window's extra calls in flight bought (completions/s per extra call): the secant from
    the best-throughput earlier window run at least `min_spread` fewer calls in flight. None without such a
    window. A secant to the best lower level, not a regression over all windows: across a concave curve
    (throughput rising to the knee, then flat) a slope fitted over both parts stays dominated by the rise."""
    current = windows[-1]
    lower = [w for w in windows[:-1] if w.mean_in_flight <= (1.0 - min_spread) * current.mean_in_flight]
    if not lower:
        return None
    reference = max(lower, key=lambda w: w.throughput)
    return (current.throughput - reference.throughput) / (current.mean_in_flight - reference.mean_in_flight)


def _latency_load_correlation(windows: list[_Window]) -> float:
    """Pearson correlation of window median latency with mean in-flight: near 1 when latency is caused by load
    (a queueing server), near 0 when it is noise (heavy-tailed answer times at any load)."""
    if len(windows) < 2:
        return 0.0
    xs = [w.mean_in_flight for w in windows]
    ys = [w.p50 for w in windows]
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    if var_x <= 0 or var_y <= 0:
        return 0.0
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return float(cov / (var_x * var_y) ** 0.5)


class Limiter:
    """Concurrency budget + request/token buckets + adaptive limit for one (endpoint, model)."""

    def __init__(
        self,
        config: LimitConfig | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or LimitConfig()
        self.name = name
        self._clock = clock
        now = clock()
        self._budget = self.config.concurrency
        self._slow_start = (
            self.config.adaptive and self.config.latency_backpressure and self._budget > self.config.slow_start_initial
        )
        self._limit = float(min(self._budget, self.config.slow_start_initial) if self._slow_start else self._budget)
        self._configured_rpm = self.config.rpm
        self._configured_tpm = self.config.tpm
        self._requests = TokenBucket(self.config.rpm, burst_s=self.config.burst_s, now=now) if self.config.rpm else None
        self._tokens = TokenBucket(self.config.tpm, burst_s=self.config.burst_s, now=now) if self.config.tpm else None
        self._in_flight = 0
        self._waiters: list[tuple[int, int, _Waiter]] = []  # a heap: (-priority, arrival, waiter)
        self._arrivals = itertools.count()
        self._paused_until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._generation = 0
        self._successes = 0
        self._ceiling: float | None = None
        self._probe_factor = 1
        # statistics
        self._t0: float | None = None
        self._last = now
        self._area = 0.0
        self._limit_area = 0.0
        self._peak = 0
        self._admitted = 0
        self._completed = 0
        self._failed = 0
        self._cancelled = 0
        self._rate_limited = 0
        self._increases = 0
        self._decreases_rate_limit = 0
        self._decreases_latency = 0
        # latency back-pressure
        self._win_id = 0
        self._win_start = now
        self._win_area0 = 0.0
        self._win_size = 0
        self._win_to_admit = 0
        self._win_ramping = False
        self._ramp_s = 0.0
        self._win_open = 0
        self._win_latencies: list[float] = []
        self._latency_ceiling: float | None = None
        self._history: deque[_Window] = deque(maxlen=self.config.history_windows)
        self._baseline: deque[_Window] = deque(maxlen=self.config.baseline_windows)
        self._open_window(now)

    # -- properties -------------------------------------------------------------------------------------

    @property
    def cap(self) -> int:
        """The current concurrency limit as a whole number of calls."""
        return max(1, int(self._limit))

    @property
    def budget(self) -> int:
        return self._budget

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, w in self._waiters if not w.future.done())

    def set_budget(self, budget: int) -> None:
        """Change the budget at runtime; the adaptive limit is clamped to it (or set to it when not adaptive)."""
        if budget < 1:
            raise ValueError("budget must be >= 1")
        self._advance(self._clock())
        self._budget = budget
        if not self.config.adaptive or self._limit > budget:
            self._limit = float(budget)
        self._dispatch()

    # -- admission --------------------------------------------------------------------------------------

    def _admission_wait(self, now: float, tokens: int) -> float | None:
        """0 if a call of `tokens` can start now, seconds to wait for a pause or bucket, None if at the limit."""
        if self._in_flight >= self.cap:
            return None
        wait = self._paused_until - now
        if self._requests is not None:
            wait = max(wait, self._requests.wait_time(now, 1.0))
        if self._tokens is not None and tokens > 0:
            wait = max(wait, self._tokens.wait_time(now, float(tokens)))
        return max(0.0, wait)

    def _admit(self, now: float, tokens: int) -> Permit:
        self._advance(now)
        if self._t0 is None:
            self._t0 = now
            self._last = now
        if self._admitted == 0:
            self._open_window(now)
        self._in_flight += 1
        if self._in_flight > self._peak:
            self._peak = self._in_flight
        self._admitted += 1
        if self._requests is not None:
            self._requests.take(now, 1.0)
        if self._tokens is not None and tokens > 0:
            self._tokens.take(now, float(tokens))
        window = -1
        if self._win_ramping and (self._in_flight >= self.cap or now - self._win_start >= self._ramp_s):
            self._win_ramping = False  # the limit is reached (or a round trip has passed): the cohort starts
            self._win_start = now
            self._win_area0 = self._area
        elif self._win_to_admit > 0 and not self._win_ramping:
            self._win_to_admit -= 1
            self._win_open += 1
            window = self._win_id
        return Permit(tokens=tokens, admitted_at=now, generation=self._generation, window=window)

    def try_acquire(self, tokens: int = 0) -> Permit | None:
        """Admit a call now if nothing stands in the way (and nobody is queued), else None."""
        now = self._clock()
        if self._waiters or self._admission_wait(now, tokens) != 0.0:
            return None
        return self._admit(now, tokens)

    async def acquire(self, tokens: int = 0, priority: int = 0) -> Permit:
        """Wait until a call estimated at `tokens` tokens may start. Waiting calls are admitted by `priority`
        (higher first), then in arrival order: a pipeline gives its later steps a higher priority, so work
        already under way finishes before new work starts (first results sooner, less work half done)."""
        permit = self.try_acquire(tokens)
        if permit is not None:
            return permit
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(tokens, future)
        heapq.heappush(self._waiters, (-priority, next(self._arrivals), waiter))
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result(), Outcome.CANCELLED)
            else:
                future.cancel()
                self._dispatch()
            raise

    def _dispatch(self) -> None:
        if not self._waiters:
            return
        now = self._clock()
        while self._waiters:
            waiter = self._waiters[0][2]
            if waiter.future.done():
                heapq.heappop(self._waiters)
                continue
            wait = self._admission_wait(now, waiter.tokens)
            if wait is None:
                return
            if wait > 0.0:
                self._arm_timer(now, wait)
                return
            heapq.heappop(self._waiters)
            waiter.future.set_result(self._admit(now, waiter.tokens))

    def _arm_timer(self, now: float, wait: float) -> None:
        at = now + wait
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self._dispatch()

    # -- feedback -----------------------------------------------------------------------------------------

    def release(
        self,
        permit: Permit,
        outcome: Outcome,
        *,
        latency_s: float | None = None,
        tokens_used: int | None = None,
        retry_after_s: float | None = None,
        pause_all: bool = True,
    ) -> None:
        """Hand back a permit with what happened; feeds the adaptive limit and the token bucket.

        A 429's `retry_after_s` pauses every admission when `pause_all` (a refusal by request or token rate:
        nobody gets through before it has elapsed); with `pause_all=False` (a refusal for concurrency: the calls
        already in flight are fine) it only cuts the limit, and the refused call waits on its own.
        """
        if permit.released:
            return
        permit.released = True
        now = self._clock()
        self._advance(now)
        binding = self._in_flight >= self.cap or bool(self._waiters)
        self._in_flight -= 1
        in_window = permit.window == self._win_id
        if in_window:
            self._win_open -= 1
        if tokens_used is not None and self._tokens is not None:
            self._tokens.give_back(now, float(permit.tokens - tokens_used))
        if outcome is Outcome.SUCCESS:
            self._completed += 1
            if self.config.adaptive:
                self._on_success(now, latency_s if in_window else None, binding)
        elif outcome is Outcome.RATE_LIMITED:
            self._rate_limited += 1
            probe_failed = False
            if self.config.adaptive and permit.generation == self._generation:
                probe_failed = self._ceiling is not None and self._limit > self._ceiling
                # in slow start the last level known to work is half the current one
                self._note_ceiling(self.cap / 2 + 1 if self._slow_start else float(self.cap))
                if probe_failed and self._ceiling is not None:
                    self._decrease(self._ceiling / self._limit)
                else:
                    self._decrease(self.config.decrease_factor)
                self._decreases_rate_limit += 1
            if retry_after_s is not None and retry_after_s > 0 and pause_all and not probe_failed:
                self._paused_until = max(self._paused_until, now + min(retry_after_s, self.config.max_pause_s))
        elif outcome is Outcome.CANCELLED:
            self._cancelled += 1
        else:
            self._failed += 1
        if permit.window == self._win_id:  # not when a decrease above has already opened a new window
            self._maybe_close_window(now)
        self._dispatch()

    def pause(self, seconds: float) -> None:
        """Admit nothing for `seconds` (callers honour a Retry-After seen outside `release`)."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + min(seconds, self.config.max_pause_s))

    def update_from_headers(self, headers: Mapping[str, str] | RateLimitHeaders | None) -> None:
        """Apply a response's `x-ratelimit-*` headers: lower rates to the provider's and clamp the buckets."""
        if headers is None:
            return
        info = headers if isinstance(headers, RateLimitHeaders) else RateLimitHeaders.from_headers(headers)
        if info is None:
            return
        now = self._clock()
        if info.limit_requests is not None and info.limit_requests > 0:
            rate = float(min(info.limit_requests, self._configured_rpm or info.limit_requests))
            if self._requests is None:
                self._requests = TokenBucket(rate, burst_s=self.config.burst_s, now=now)
            elif self._requests.per_minute != rate:
                self._requests.set_rate(now, rate)
        if info.limit_tokens is not None and info.limit_tokens > 0:
            rate = float(min(info.limit_tokens, self._configured_tpm or info.limit_tokens))
            if self._tokens is None:
                self._tokens = TokenBucket(rate, burst_s=self.config.burst_s, now=now)
            elif self._tokens.per_minute != rate:
                self._tokens.set_rate(now, rate)
        if info.remaining_requests is not None:
            if self._requests is not None:
                self._requests.clamp(now, info.remaining_requests, info.reset_requests_s)
            elif info.remaining_requests <= 0 and info.reset_requests_s:
                self.pause(info.reset_requests_s)
        if info.remaining_tokens is not None:
            if self._tokens is not None:
                self._tokens.clamp(now, info.remaining_tokens, info.reset_tokens_s)
            elif info.remaining_tokens <= 0 and info.reset_tokens_s:
                self.pause(info.reset_tokens_s)
        self._dispatch()

    def _decrease(self, factor: float) -> None:
        self._advance(self._clock())
        self._limit = max(1.0, self._limit * factor)
        self._generation += 1
        self._successes = 0
        self._slow_start = False
        self._open_window(self._clock())

    def _open_window(self, now: float) -> None:
        """Start a window: its cohort is the next `max(min_window, limit)` calls admitted. Opened at every
        multiplicative change of the limit, so that a window's calls all ran under one limit."""
        self._win_id += 1
        self._win_start = now
        self._win_area0 = self._area
        self._win_size = max(self.config.min_window, self.cap)
        self._win_to_admit = self._win_size if self.config.latency_backpressure else 0
        # calls admitted while in-flight climbs to a new limit ran under a lower load: the cohort starts after
        self._win_ramping = True
        self._ramp_s = self._history[-1].p50 if self._history else 0.0
        self._win_open = 0
        self._win_latencies = []

    def _note_ceiling(self, level: float) -> None:
        """Remember the level a 429 was hit at; a repeat at about the same level makes probing above it rarer."""
        ceiling = max(1.0, level - 1.0)
        previous = self._ceiling
        if previous is not None and abs(ceiling - previous) <= max(1.0, 0.1 * previous):
            self._probe_factor = min(self.config.max_probe_factor, self._probe_factor * 2)
        else:
            self._probe_factor = 1
        self._ceiling = ceiling

    def _successes_per_increase(self) -> int:
        cap = self.cap
        per = cap
        if self._ceiling is not None:
            per = max(1, cap // 2) if self._limit < self._ceiling else cap * self._probe_factor
        if self._latency_ceiling is not None and self._limit >= self._latency_ceiling:
            per = max(per, cap * self.config.latency_probe_factor)
        return per

    def _on_success(self, now: float, latency_s: float | None, binding: bool) -> None:
        if binding and not self._slow_start and self._limit < self._budget:
            self._successes += 1
            if self._successes >= self._successes_per_increase():
                self._successes = 0
                self._advance(now)
                self._limit = min(float(self._budget), self._limit + 1.0)
                self._increases += 1
        if latency_s is not None:
            self._win_latencies.append(latency_s)

    def _maybe_close_window(self, now: float) -> None:
        """Judge the window once most of its cohort is back (waiting for all of it would wait for the slowest
        call of a heavy tail) and it spans at least `min_window_s`. The cohort, calls admitted together under
        one limit, gives the median latency; mean in-flight is over the span."""
        cfg = self.config
        if self._win_ramping or self._win_to_admit > 0 or not cfg.latency_backpressure:
            return
        size = self._win_size
        if self._win_open > (1.0 - cfg.window_completion) * size or now - self._win_start < cfg.min_window_s:
            return
        if len(self._win_latencies) < max(3, size // 2):  # mostly failures: no latency to judge
            self._open_window(now)
            return
        duration = now - self._win_start
        mean_in_flight = (self._area - self._win_area0) / duration
        p50 = statistics.median(self._win_latencies)
        # throughput by Little's law (in flight / latency): counting completions over the span would mix in
        # calls admitted under the previous limit. The scale (median, not mean, latency) cancels out in the
        # comparisons made with it.
        current = _Window(
            mean_in_flight=mean_in_flight,
            p50=p50,
            throughput=mean_in_flight / p50 if p50 > 0 else 0.0,
            log_sigma=_log_sigma(self._win_latencies),
            samples=len(self._win_latencies),
        )
        self._open_window(now)
        self._baseline.append(current)
        history = list(self._history)
        self._history.append(current)
        self._judge_window(current, history)

    def _judge_window(self, current: _Window, history: list[_Window]) -> None:
        cfg = self.config
        # standard error of ln(median) of a window: 1.2533 sigma / sqrt(n), sigma pooled over the recent windows
        # (one window's own spread, from a few dozen calls, is itself too noisy to rely on)
        sigma = statistics.median(w.log_sigma for w in self._baseline)

        def se(window: _Window) -> float:
            return 1.2533 * sigma / math.sqrt(window.samples)

        # the uncongested reference: the window whose median is lowest even allowing for its noise (the plain
        # lowest median of many noisy windows is a lucky draw that would make every later window look slow)
        reference = min(self._baseline, key=lambda w: w.p50 * math.exp(cfg.latency_significance * se(w)))
        baseline = reference.p50
        # slow: above tolerance, by enough seconds to matter, and by more than the windows' noise (a heavy tail
        # makes two medians of the same law differ by chance)
        noise = cfg.latency_significance * math.hypot(se(current), se(reference))
        slow = (
            current.p50 > cfg.latency_tolerance * baseline
            and current.p50 - baseline > cfg.min_latency_delta_s
            and math.log(current.p50 / baseline) > noise
        )
        if slow:
            windows = [*history, current]
            marginal = _marginal_throughput(windows, cfg.min_spread)
            average = current.throughput / current.mean_in_flight if current.mean_in_flight > 0 else 0.0
            caused_by_load = _latency_load_correlation(windows) >= cfg.min_latency_correlation
            if marginal is not None and marginal < cfg.min_marginal_gain * average and caused_by_load:
                self._latency_ceiling = float(self.cap)
                # in slow start the level before the last doubling was not slow: go back to it
                self._decrease(0.5 if self._slow_start else cfg.latency_decrease_factor)
                self._decreases_latency += 1
                return
            # slow but not from load (heavy-tailed answer times): slow start goes on
        elif self._latency_ceiling is not None and self.cap >= (1.0 + 2 * cfg.min_spread) * self._latency_ceiling:
            self._latency_ceiling = None  # well past the old knee without slowing down: the server got faster
        if self._slow_start:
            self._advance(self._clock())
            self._limit = min(float(self._budget), math.ceil(self._limit * self.config.slow_start_factor))
            if self._limit >= self._budget:
                self._slow_start = False
            self._open_window(self._clock())

    # -- statistics -----------------------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if now > self._last:
            if self._t0 is not None:
                span = now - self._last
                self._area += self._in_flight * span
                self._limit_area += min(self.cap, self._budget) * span
            self._last = now

    def reset_stats(self) -> None:
        """Start the peak and time-weighted means afresh (e.g. at the start of a benchmark's measured run)."""
        now = self._clock()
        self._advance(now)
        self._t0 = now if self._in_flight or self._admitted else None
        self._last = now
        self._area = 0.0
        self._limit_area = 0.0
        self._open_window(now)
        self._peak = self._in_flight

    def stats(self) -> LimiterStats:
        now = self._clock()
        self._advance(now)
        elapsed = 0.0 if self._t0 is None else now - self._t0
        mean = self._area / elapsed if elapsed > 0 else float(self._in_flight)
        mean_limit = self._limit_area / elapsed if elapsed > 0 else float(self.cap)
        return LimiterStats(
            name=self.name,
            budget=self._budget,
            limit=self.cap,
            in_flight=self._in_flight,
            peak_in_flight=self._peak,
            mean_in_flight=mean,
            mean_in_flight_fraction=mean / self._budget,
            mean_limit=mean_limit,
            waiting=self.waiting,
            admitted=self._admitted,
            completed=self._completed,
            failed=self._failed,
            cancelled=self._cancelled,
            rate_limited=self._rate_limited,
            increases=self._increases,
            decreases_rate_limit=self._decreases_rate_limit,
            decreases_latency=self._decreases_latency,
            slow_start=self._slow_start,
            ceiling=self._ceiling,
            paused_for_s=max(0.0, self._paused_until - now),
            baseline_latency_s=min(w.p50 for w in self._baseline) if self._baseline else None,
            rpm=self._requests.per_minute if self._requests is not None else None,
            tpm=self._tokens.per_minute if self._tokens is not None else None,
            elapsed_s=elapsed,
        )


class LimiterRegistry:
    """The limiters of a process, one per (endpoint, model). The first caller's config creates it."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limiters: dict[tuple[str, str], Limiter] = {}

    def get(self, endpoint: str, model: str, config: LimitConfig) -> Limiter:
        key = (endpoint.rstrip("/"), model)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = Limiter(config, name=f"{key[0]}|{model}", clock=self._clock)
            self._limiters[key] = limiter
        return limiter

    def items(self) -> list[tuple[tuple[str, str], Limiter]]:
        return list(self._limiters.items())

    def stats(self) -> dict[str, LimiterStats]:
        return {limiter.name: limiter.stats() for limiter in self._limiters.values()}


SHARED_LIMITERS = LimiterRegistry()
"""The process-wide registry `OpenAILLM` uses unless given another."""
