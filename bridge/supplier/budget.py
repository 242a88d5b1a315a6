"""The API budget: one limiter per supplier key, shared by every worker process.

Each key allows ``limit`` requests per ``window`` seconds and ``daily_limit`` a day (60/min and
10,000/day on the Shop API v1). The window is a sliding log of request times, the same rule the
supplier enforces. A request reaches the supplier some time after it was admitted (a loaded host
can delay it by more than any fixed guard), so each entry of the log is stamped twice: while the
request is unanswered it counts as sent in the future (``in_flight_seconds`` ahead, so a process
that dies mid-request frees its slot eventually), and when the answer comes back it is restamped
with that moment. The supplier counted the request at or before its answer, so an
entry never leaves our window before it leaves the supplier's, however late it was delivered. On
top of that the window is 2% longer than the supplier's (at least 0.1 s: a supplier that stamps
whole seconds, or counts a second more than its window). With Redis the log lives in a sorted set
updated atomically by Lua scripts on Redis' own clock (one clock for every host); without Redis it
lives in this process.

That is enough for the supplier never to count more than ``limit``, however requests overtake
one another between hosts, so no request is kept in hand (``margin`` 0; a positive ``margin``
admits that many fewer per window, for a supplier that counts something else too). Take any
moment the supplier receives a request and the requests it then counts (received less than a
window earlier), and the last of them all to be admitted, at ``t``. Each of the others was
admitted before ``t``, and its entry lasts from its admission until a guarded window after its
answer, past ``t`` since its reception, which the supplier still counts, is no earlier than ``t``.
So at ``t`` the log held all the others, fewer than ``limit``: the supplier counts at most
``limit``. (Before the two stamps a request overtaken on its way could be counted late: the
margin of one request was for that.)

A request admitted but then never sent (its call found the supplier's share of threads taken, or
its purchase was taken back) is ``release``d: its entry leaves the log at once. The argument
above is about the requests the supplier receives; one it never receives needs no entry (stamped
as answered instead, it kept its slot idle for a whole window).

Catalogue reads share the key with purchases as *background* requests (``acquire(...,
background=True)``, the client's ``BACKGROUND_PATHS``): one is admitted only while the window
holds fewer than ``limit - BACKGROUND_RESERVE`` requests, and one call's ``spacing`` (the guarded
window / the limit) after the last background request of any process (a key in the same log
holds when). A full read therefore never fills the window: a purchase finds the reserved slot
free, and a second purchase right after it waits for the next slot to free, at most about one
call's spacing later since background requests were admitted that far apart; when both wait for
it, only the purchase may take it. A read alone runs at the key's full rate, evenly spread.

A rate-limit refusal that still happens (``penalize``) blocks the key and lowers the limit for a
while. With a Retry-After (the docs' 429, a proxy in front) the block lasts what it announces.
Without one (the platform's own server answers RATE_LIMIT_EXCEEDED with a 401 and no
Retry-After, and counts every request of the last minute, refused ones included) the block
lasts a whole window, so nothing is sent while the supplier still counts what the window held,
and for ``SLOWDOWN_WINDOWS`` windows at most one request fewer than the window held *answered*
when the refusal came is admitted (the refused one included, in-flight ones not: they may not
have arrived). A key that allows fewer requests than the bridge believes costs about one refused
request then, instead of a refusal on every retry. ``pause`` blocks a key for a given time (its
day spent: DAILY_LIMIT_EXCEEDED).

The limits are the supplier's own when ``account/info`` told them (``Budgets.for_key``), and the
day's count never falls below what the supplier says was used today (``seed_daily``).

A Redis restart (nothing persisted) empties the log while the supplier still counts the last
window. Each process therefore keeps a shadow of the entries it admitted within the last window,
and every script call carries it with the store's *epoch* (a random id the first call on an
empty store sets). When the epoch is not the one this process saw last, the store was lost: in
the same atomic call the script puts this process's entries back at their true ages, raises the
day's count to the last one seen, and blocks the key for one window. The block is for the
entries of other processes, which come back only when those processes next call: a worker still
reconnecting to its queue may not call for seconds, and a slowed window (10% fewer requests) was
not room enough for them (a fault-suite run saw a 429 so). A brand-new store with no history (no
epoch known anywhere) admits its first request at once.

Redis being unreachable when an answer comes back is not the request's failure: the entry stays
stamped in the future (counted longer, never shorter) and the answer reaches its caller.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NewType, Protocol

import redis

from bridge.logs import event
from bridge.settings import Settings
from bridge.supplier.schemas import VN_TZ

# After a 429 the key runs at this fraction of its limit for SLOWDOWN_WINDOWS windows.
SLOWDOWN_FACTOR = 0.9
SLOWDOWN_WINDOWS = 5
# While the window is full of unanswered requests, look again this often: any of them may be
# answered at any moment, which frees its slot one window later.
IN_FLIGHT_POLL_SECONDS = 0.1

# Background requests (catalogue reads) leave this many slots of the window to the others, and
# are admitted at most one per ``BudgetRule.spacing``: see the module's docstring.
BACKGROUND_RESERVE = 1

Ticket = NewType("Ticket", str)
"""One admitted request's entry in the log, handed back to ``Budget.answered``."""


class BudgetExhausted(Exception):
    """No request may be sent now; nothing was sent. ``retry_after`` says when to come back."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(f"supplier API budget: {reason}; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class BudgetRule:
    limit: int = 60
    window_seconds: float = 60.0
    daily_limit: int = 10_000
    # Requests kept in hand per window. 0 is safe: see the module's docstring (why the log never
    # holds fewer requests than the supplier counts).
    margin: int = 0
    # Longer than a request's whole timeout (45 s): an entry never answered (a timeout, a process
    # that died mid-request) is treated as answered then.
    in_flight_seconds: float = 60.0

    @property
    def guarded_window(self) -> float:
        # The platform's server stamps its log in whole seconds: compared inclusively it counts
        # a call up to 61 s of a 60-s window, which it does not say; 1.2 s covers that second
        # and a second clock (the stamp's and the count's) 0.2 s apart. Smaller would give back
        # at most 0.3% of the budget, against a 429 (a blocked window and five slowed ones).
        return self.window_seconds + max(0.1, 0.02 * self.window_seconds)

    @property
    def slowdown_seconds(self) -> float:
        return self.window_seconds * SLOWDOWN_WINDOWS

    def effective(self, slowed: bool) -> int:
        base = max(1, self.limit - self.margin)
        return max(1, int(base * SLOWDOWN_FACTOR)) if slowed else base

    @property
    def spacing(self) -> float:
        """One call's spacing at the key's full rate: background requests come no closer."""
        return self.guarded_window / self.effective(False)


def background_limit(limit: int) -> int:
    """The requests a window may hold for a background request to be admitted (a key of one
    request a window has nothing to reserve)."""
    return max(1, limit - BACKGROUND_RESERVE)


class Budget(Protocol):
    def acquire(self, max_wait: float, *, background: bool = False) -> Ticket:
        """Wait for a slot (at most ``max_wait`` seconds) or raise ``BudgetExhausted``.
        ``background``: a request nobody waits for (a catalogue page), admitted only when it
        leaves a slot for the others and one call's spacing after the last such request."""

    def answered(self, ticket: Ticket) -> None:
        """The supplier answered the request admitted with ``ticket``, now."""

    def release(self, ticket: Ticket) -> None:
        """The request admitted with ``ticket`` was never sent (and never will be): its slot
        is free again at once."""

    def penalize(self, retry_after: float | None) -> float:
        """The supplier refused a request for the key's rate limit: block the key for
        ``retry_after`` when announced, else for a whole window and learn the limit from the
        window (see the module's docstring); slow down. Returns the seconds the key is
        blocked from now."""

    def pause(self, seconds: float) -> None:
        """Block the key for ``seconds`` (its day's limit is spent), never shortening a block."""


class KeyBudget(Budget, Protocol):
    """A key's budget as ``Budgets`` hands it out: also told what the supplier reports."""

    rule: BudgetRule

    def seed_daily(self, used: int) -> None:
        """The supplier counts ``used`` requests today: never count fewer (never lowers)."""

    def used_today(self) -> int | None:
        """The requests counted against today's limit so far; None when the count cannot be
        read (Redis down). Only reads: it admits, stamps and raises nothing."""


def _slot_wait(oldest: float, window: float, now: float) -> float:
    """How long until the oldest entry leaves the window; an unanswered one may be restamped to
    now at any moment, so look again soon instead."""
    if oldest > now:
        return IN_FLIGHT_POLL_SECONDS
    return oldest + window - now


def _learned_limit(answered: int, learned: int) -> int:
    """The limit a refusal without Retry-After teaches: one fewer than the requests the window
    held answered (the refused one included), never above what was learned before (``learned``,
    0: nothing). 0 (learn nothing) when the window held no other request of ours: the refusal
    is then not explained by what we sent (another user of the key, a proxy)."""
    if answered < 2:
        return 0
    return answered - 1 if not learned else min(learned, answered - 1)


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, VN_TZ).strftime("%Y%m%d")


def _wait_or_raise(wait: float, max_wait: float, deadline: float, reason: str) -> None:
    if time.monotonic() + wait > deadline:
        raise BudgetExhausted(wait, reason)
    time.sleep(min(wait, max(0.0, max_wait)))


class LocalBudget:
    """The in-process limiter (embedded mode: one process does all the work)."""

    def __init__(self, rule: BudgetRule, clock: Callable[[], float] = time.time) -> None:
        self.rule = rule
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: dict[Ticket, float] = {}
        self._days: dict[str, int] = {}
        self._blocked_until = 0.0
        self._slow_until = 0.0
        # The limit learned from the last refusals without Retry-After, and until when it holds.
        self._learned = 0
        self._learned_until = 0.0
        # No background request before this (one call's spacing after the last one).
        self._background_next = 0.0

    def acquire(self, max_wait: float, *, background: bool = False) -> Ticket:
        deadline = time.monotonic() + max_wait
        while True:
            ticket, wait, reason = self._try(background)
            if ticket is not None:
                return ticket
            _wait_or_raise(wait, max_wait, deadline, reason)

    def _try(self, background: bool) -> tuple[Ticket | None, float, str]:
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return None, self._blocked_until - now, "the key is blocked after a refusal"
            window = self.rule.guarded_window
            # A few dozen entries at most: a scan is simpler than keeping restamped ones sorted.
            self._sent = {t: at for t, at in self._sent.items() if at > now - window}
            limit = self.rule.effective(now < self._slow_until)
            if now < self._learned_until:
                limit = min(limit, self._learned)
            if background:
                limit = background_limit(limit)
            if len(self._sent) >= limit:
                oldest = min(self._sent.values())
                return None, _slot_wait(oldest, window, now), "per-minute limit reached"
            if background and now < self._background_next:
                return None, self._background_next - now, "background requests spaced out"
            day = _day(now)
            if self._days.get(day, 0) >= self.rule.daily_limit:
                return None, _seconds_to_next_day(now), "daily limit reached"
            if background:
                self._background_next = now + self.rule.spacing
            ticket = Ticket(uuid.uuid4().hex)
            self._sent[ticket] = now + self.rule.in_flight_seconds
            self._days = {day: self._days.get(day, 0) + 1}
            return ticket, 0.0, ""

    def answered(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._sent:
                self._sent[ticket] = self._clock()

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self._sent.pop(ticket, None)

    def penalize(self, retry_after: float | None) -> float:
        with self._lock:
            now = self._clock()
            window = self.rule.guarded_window
            block = window if retry_after is None else retry_after
            self._blocked_until = max(self._blocked_until, now + block)
            self._slow_until = now + self.rule.slowdown_seconds
            if retry_after is None:
                answered = sum(1 for at in self._sent.values() if now - window < at <= now)
                learned = _learned_limit(
                    answered, self._learned if now < self._learned_until else 0
                )
                if learned:
                    self._learned, self._learned_until = learned, self._slow_until
            return self._blocked_until - now

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def seed_daily(self, used: int) -> None:
        with self._lock:
            day = _day(self._clock())
            self._days = {day: max(self._days.get(day, 0), used)}

    def used_today(self) -> int | None:
        with self._lock:
            return self._days.get(_day(self._clock()), 0)


# Blocks the key (KEYS[n] holds blocked-until ms) until now + ms, never shortening a block.
_BLOCK = """
local function block(key, now, ms)
  local until_ms = now + ms
  if until_ms > tonumber(redis.call('GET', key) or '0') then
    redis.call('SET', key, until_ms, 'PX', ms + 1000)
  end
end
"""

# Loss of the store (see the module docstring), run first by every script that admits or counts.
# KEYS: log, day, slowed, epoch, blocked-until. ARGV (from ``a`` on): window ms, epoch known
# ('' none), new epoch, day count seen, then ticket / age-ms pairs of this process's shadow.
_RECOVER = (
    _BLOCK
    + """
local function recover(now, a)
  local window = tonumber(ARGV[a])
  local epoch = redis.call('GET', KEYS[4])
  if epoch == ARGV[a + 1] then return epoch end
  if not epoch then
    epoch = ARGV[a + 2]
    redis.call('SET', KEYS[4], epoch)
  end
  if ARGV[a + 1] ~= '' then
    -- This process knew a store that is gone: what it sent goes back at its true age, and the
    -- key is blocked for a window for what others sent and have not put back yet.
    for i = a + 4, #ARGV, 2 do
      redis.call('ZADD', KEYS[1], 'NX', now - tonumber(ARGV[i + 1]), ARGV[i])
    end
    redis.call('PEXPIRE', KEYS[1], window * 2)
    block(KEYS[5], now, window)
    local seen = tonumber(ARGV[a + 3])
    if tonumber(redis.call('GET', KEYS[2]) or '0') < seen then
      redis.call('SET', KEYS[2], seen, 'EX', 172800)
    end
  end
  return epoch
end
"""
)
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""


def _recovering(first_arg: int, body: str) -> str:
    """A script that first checks the store (its ARGV from ``first_arg`` on are the recovery
    block) and then runs ``body`` with ``now``, ``epoch`` and ``day`` (today's count) set."""
    return (
        _RECOVER
        + _NOW
        + f"local epoch = recover(now, {first_arg})\n"
        + "local day = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
        + body
    )


# KEYS: log zset, day counter, slowed flag, epoch, blocked-until, learned limit, next background
# admission. ARGV: limit, slowed limit, daily limit, member, in-flight ms, in-flight poll ms,
# background reserve (0: not a background request), spacing ms, then the recovery block.
# Returns {ms to wait (0 = admitted, -1 = the day's budget is spent), epoch, day count, why (see
# ``_WAIT_REASONS``)}. Unanswered entries are scored in the future (see the docstring).
_ACQUIRE = _recovering(
    9,
    """
local blocked = tonumber(redis.call('GET', KEYS[5]) or '0')
if blocked > now then return {blocked - now, epoch, day, 1} end
local window = tonumber(ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local limit = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then limit = tonumber(ARGV[2]) end
local learned = tonumber(redis.call('GET', KEYS[6]) or '0')
if learned > 0 and learned < limit then limit = learned end
local reserve = tonumber(ARGV[7])
if reserve > 0 then limit = math.max(1, limit - reserve) end
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  if oldest > now then return {tonumber(ARGV[6]), epoch, day, 0} end
  return {math.max(1, oldest + window - now), epoch, day, 0}
end
local spacing = tonumber(ARGV[8])
if reserve > 0 then
  local next_at = tonumber(redis.call('GET', KEYS[7]) or '0')
  if next_at > now then return {next_at - now, epoch, day, 2} end
end
if day >= tonumber(ARGV[3]) then return {-1, epoch, day, 0} end
if reserve > 0 then redis.call('SET', KEYS[7], now + spacing, 'PX', spacing + 1000) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], window + tonumber(ARGV[5]))
day = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 172800)
return {0, epoch, day, 0}
""",
)

# KEYS: log zset. ARGV: member. Restamps an entry still in the log with Redis' now.
_ANSWERED = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return 0
"""
)

# KEYS: blocked-until, slowed flag, log, learned limit. ARGV: block ms, slowdown ms, window ms,
# '1' to learn the limit (no Retry-After: see ``_learned_limit``, the same rule). Returns the ms
# the key is blocked from now.
_PENALIZE = (
    _BLOCK
    + _NOW
    + """
block(KEYS[1], now, tonumber(ARGV[1]))
redis.call('SET', KEYS[2], '1', 'PX', tonumber(ARGV[2]))
if ARGV[4] == '1' then
  local answered = redis.call('ZCOUNT', KEYS[3], now - tonumber(ARGV[3]), now)
  if answered >= 2 then
    local cap = answered - 1
    local learned = tonumber(redis.call('GET', KEYS[4]) or '0')
    if learned > 0 and learned < cap then cap = learned end
    redis.call('SET', KEYS[4], cap, 'PX', tonumber(ARGV[2]))
  end
end
return tonumber(redis.call('GET', KEYS[1]) or '0') - now
"""
)

# KEYS: blocked-until. ARGV: ms.
_PAUSE = (
    _BLOCK
    + _NOW
    + """
block(KEYS[1], now, tonumber(ARGV[1]))
return 0
"""
)

# KEYS: log, day, slowed, epoch. ARGV: the recovery block, then the count the supplier reports.
# Returns {epoch, day count}.
_SEED_DAILY = _recovering(
    2,
    """
if day < tonumber(ARGV[1]) then
  day = tonumber(ARGV[1])
  redis.call('SET', KEYS[2], day, 'EX', 172800)
end
return {epoch, day}
""",
)


# Why ``_ACQUIRE`` says to wait, by the number it returns with the wait.
_WAIT_REASONS = (
    "per-minute limit reached",
    "the key is blocked after a refusal",
    "background requests spaced out",
)


class RedisBudget:
    """The limiter shared by every process that talks to the same Redis.

    Keep one per key per process (``Budgets`` does): the shadow of what this process admitted is
    what puts the window back after a Redis restart.
    """

    def __init__(self, client: redis.Redis, prefix: str, rule: BudgetRule) -> None:
        self._client = client
        self._prefix = prefix
        self.rule = rule
        self._acquire = client.register_script(_ACQUIRE)
        self._answered = client.register_script(_ANSWERED)
        self._penalize = client.register_script(_PENALIZE)
        self._pause = client.register_script(_PAUSE)
        self._seed_daily = client.register_script(_SEED_DAILY)
        self._lock = threading.Lock()
        # ticket -> when the supplier counts it, on this process' monotonic clock (in the future
        # while unanswered, as in the log).
        self._shadow: dict[Ticket, float] = {}
        self._epoch = ""  # none seen yet: this process knows no history of the store
        self._day_seen = ("", 0)

    def _keys(self) -> list[str]:
        p = self._prefix
        day = f"{p}:day:{_day(time.time())}"
        return [
            f"{p}:log",
            day,
            f"{p}:slowed",
            f"{p}:epoch",
            f"{p}:blocked",
            f"{p}:learned",
            f"{p}:background",
        ]

    def _recovery_args(self) -> list[str | int]:
        """The store's epoch this process saw last, and what to put back if it is gone."""
        now = time.monotonic()
        window = self.rule.guarded_window
        with self._lock:
            self._shadow = {t: at for t, at in self._shadow.items() if at > now - window}
            day, seen = self._day_seen
            args: list[str | int] = [
                int(window * 1000),
                self._epoch,
                uuid.uuid4().hex,
                seen if day == _day(time.time()) else 0,
            ]
            for ticket, at in self._shadow.items():
                args += [ticket, int((now - at) * 1000)]
        return args

    def _saw(self, epoch: bytes, day_count: int) -> None:
        with self._lock:
            self._epoch = epoch.decode()
            self._day_seen = (_day(time.time()), int(day_count))

    def acquire(self, max_wait: float, *, background: bool = False) -> Ticket:
        deadline = time.monotonic() + max_wait
        rule = self.rule
        while True:
            ticket = Ticket(uuid.uuid4().hex)
            waited, epoch, day_count, blocked = self._acquire(
                keys=self._keys(),
                args=[
                    rule.effective(False),
                    rule.effective(True),
                    rule.daily_limit,
                    ticket,
                    int(rule.in_flight_seconds * 1000),
                    int(IN_FLIGHT_POLL_SECONDS * 1000),
                    BACKGROUND_RESERVE if background else 0,
                    max(1, int(rule.spacing * 1000)),
                    *self._recovery_args(),
                ],
            )
            self._saw(epoch, day_count)
            if waited == 0:
                with self._lock:
                    self._shadow[ticket] = time.monotonic() + rule.in_flight_seconds
                return ticket
            if waited < 0:
                raise BudgetExhausted(_seconds_to_next_day(time.time()), "daily limit reached")
            _wait_or_raise(waited / 1000, max_wait, deadline, _WAIT_REASONS[int(blocked)])

    def answered(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._shadow:
                self._shadow[ticket] = time.monotonic()
        try:
            self._answered(keys=[self._keys()[0]], args=[ticket])
        except redis.RedisError as exc:
            # The entry stays stamped in the future; the shadow has the answer for a restart.
            event("budget.answered.unrecorded", logging.WARNING, error=type(exc).__name__)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self._shadow.pop(ticket, None)
        try:
            self._client.zrem(self._keys()[0], ticket)
        except redis.RedisError as exc:
            # The entry stays stamped in the future: counted longer, never shorter.
            event("budget.release.unrecorded", logging.WARNING, error=type(exc).__name__)

    def penalize(self, retry_after: float | None) -> float:
        log, _, slowed, _, blocked, learned, _ = self._keys()
        window = self.rule.guarded_window
        block = window if retry_after is None else retry_after
        try:
            remaining = self._penalize(
                keys=[blocked, slowed, log, learned],
                args=[
                    max(1, int(block * 1000)),
                    int(self.rule.slowdown_seconds * 1000),
                    int(window * 1000),
                    "1" if retry_after is None else "0",
                ],
            )
        except redis.RedisError as exc:
            # The refusal still reaches the caller, which waits the block before trying again.
            event("budget.penalty.unrecorded", logging.WARNING, error=type(exc).__name__)
            return block
        return max(block, int(remaining) / 1000)

    def pause(self, seconds: float) -> None:
        try:
            self._pause(keys=[self._keys()[4]], args=[max(1, int(seconds * 1000))])
        except redis.RedisError as exc:
            # The caller pauses the supplier itself too (its row): nothing is bought meanwhile.
            event("budget.pause.unrecorded", logging.WARNING, error=type(exc).__name__)

    def seed_daily(self, used: int) -> None:
        epoch, day_count = self._seed_daily(
            keys=self._keys(), args=[int(used), *self._recovery_args()]
        )
        self._saw(epoch, day_count)

    def used_today(self) -> int | None:
        # A plain GET, not a script: a reader (the console) must not run the restart recovery,
        # which belongs to the processes that send requests.
        try:
            count = self._client.get(self._keys()[1])
        except redis.RedisError as exc:
            event("budget.used_today.unread", logging.WARNING, error=type(exc).__name__)
            return None
        return int(count) if count is not None else 0


def _seconds_to_next_day(now: float) -> float:
    local = datetime.fromtimestamp(now, VN_TZ)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86_400
    return max(1.0, midnight - now)


class Budgets:
    """One limiter per supplier key, kept for the life of the process; keys are hashed, never
    stored in Redis or logged."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Budgets:
        rule = BudgetRule(
            limit=settings.supplier_rate_limit,
            window_seconds=settings.supplier_rate_window_seconds,
            daily_limit=settings.supplier_daily_limit,
            margin=settings.supplier_rate_margin,
        )
        return cls(rule, settings.redis_url, settings.redis_namespace)

    def __init__(self, rule: BudgetRule, redis_url: str | None, namespace: str) -> None:
        self._rule = rule
        self._namespace = namespace
        self._client = redis.Redis.from_url(redis_url) if redis_url else None
        self._budgets: dict[str, LocalBudget | RedisBudget] = {}
        self._lock = threading.Lock()

    def rule_for(self, rate_limit: int | None = None, daily_limit: int | None = None) -> BudgetRule:
        """The configured rule with the key's own limits where the supplier told them (window,
        margin and the in-flight ceiling stay as configured)."""
        return replace(
            self._rule,
            limit=rate_limit or self._rule.limit,
            daily_limit=daily_limit or self._rule.daily_limit,
        )

    def for_key(
        self, api_key: str, *, rate_limit: int | None = None, daily_limit: int | None = None
    ) -> KeyBudget:
        """The key's budget under its limits (None: the configured ones). The same object for
        every caller with the key: a change of limits reaches clients built earlier too."""
        key_id = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        rule = self.rule_for(rate_limit, daily_limit)
        with self._lock:
            budget = self._budgets.get(key_id)
            if budget is None:
                if self._client is not None:
                    prefix = f"{self._namespace}:budget:{key_id}"
                    budget = RedisBudget(self._client, prefix, rule)
                else:
                    budget = LocalBudget(rule)
                self._budgets[key_id] = budget
            budget.rule = rule
        return budget

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
