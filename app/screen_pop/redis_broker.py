"""The cross-process broker: sequences and replay logs in Redis, live pops over pub/sub.

Keys, per tenant and agent:
    stamgast:seq:{tenant}:{agent}   INCR counter, the agent's last seq
    stamgast:log:{tenant}:{agent}   sorted set, score = seq, member = the Delivery JSON
    stamgast:at:{tenant}:{agent}    sorted set, score = publish time (ms), member = seq
and one for all: stamgast:epoch, the name of the counters' life (see Broker.epoch).

One Lua script per batch of agents allocates the seq, logs, trims and PUBLISHes atomically.
Atomicity is what keeps pops ordered: were the INCR a separate round trip, two processes
publishing to one agent could log or publish seq 6 before seq 5, and a client resuming
at 6 would lose 5 for good. The script splices the message exactly as
`delivery_message` does, so logged and live bytes are identical.

Each process runs one listener on the channel `stamgast:pops` and fans messages out to its
local subscriptions; the payload is `tenant|agent:seq,agent:seq|pop_json`, the pop sent once
per audience (the agents sharing a role's view of it, app/screen_pop/views.py).
A ringing pop's tenant part is `tenant;received_us`: when its webhook was received (wall
clock, microseconds), so the process writing the frame can observe ring-to-pop
(app/metrics/timing.py). A process from before this field ignores such a message as
malformed (its agents replay it on their next gap), so roll out to every process at once.
The publishing process does not wait for its own pub/sub copy: the script replies with
the seqs it gave, and the pop goes to this process's subscriptions at once (one hop less,
for about half the pops of a two-process cluster). Whichever comes first here, the reply or
the listener's copy, delivers it, and the other is dropped: the broker remembers its own
publishes by pop id and first agent for OWN_PUBLISH_SECONDS. The message is unchanged, so
processes from before this (whose script replies with a count) run beside it. A reply and
another process's pop travel on different connections, so a later seq may reach a
subscription first: the stream sees the gap, takes both from the log in order and drops
the late one as already sent (app/screen_pop/hub.py, `Stream.follow`).
The same listener hears `stamgast:invalidations` (plain text, see the broker contract);
pub/sub keeps nothing for a process that is not listening, so each (re)subscription hands
the handlers INVALIDATE_ALL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from app.metrics import timing as webhook_timing
from app.screen_pop.broker import (
    INVALIDATE_ALL,
    MAX_LOG_ENTRIES,
    Audience,
    BrokerUnavailable,
    Clock,
    InvalidationHandler,
    InvalidationHandlers,
    LocalSubscribers,
    Subscription,
    delivery_message,
    new_epoch,
    replay_result,
    unique_agents,
)
from app.screen_pop.schemas import Pop

if TYPE_CHECKING:
    from app.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "stamgast:pops"
INVALIDATIONS = "stamgast:invalidations"
INVALIDATIONS_B = INVALIDATIONS.encode()
# No TTL: it must live exactly as long as the counters' data does, so that a Redis that
# comes back without its data (no persistence) also comes back without it.
EPOCH_KEY = "stamgast:epoch"
AGENTS_PER_SCRIPT = 100  # bounds one script's run time (Redis runs scripts one at a time)
COMMAND_TIMEOUT = 2.0  # a publish or replay never hangs on a dead Redis
SEQ_TTL_SECONDS = 30 * 24 * 3600  # an agent's counter outlives any plausible pause
LISTEN_POLL = 5.0  # the listener pings Redis after this much silence...
SILENCE_LIMIT = 3 * LISTEN_POLL  # ...and reconnects when even the ping goes unanswered
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0
# How long a publish of ours is remembered for its pub/sub copy: far longer than the copy
# takes, and if it never comes the listener reconnected and every stream caught up anyway.
OWN_PUBLISH_SECONDS = 30.0
# States of one of our publishes (a batch of agents) until its second arrival here.
_PENDING, _BY_REPLY, _BY_LISTENER = 0, 1, 2

PUBLISH_SCRIPT = """
local pop, now, cutoff = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local log_ttl, seq_ttl, keep = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local routed, seqs = {}, {}
for i = 0, (#KEYS / 3) - 1 do
  local seq_key, log_key, at_key = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local counted = redis.call('INCR', seq_key)
  local seq = string.format('%d', counted)
  redis.call('EXPIRE', seq_key, seq_ttl)
  redis.call('ZADD', log_key, seq, '{"seq":' .. seq .. ',"pop":' .. pop .. '}')
  redis.call('ZADD', at_key, now, seq)
  local expired = redis.call('ZREVRANGEBYSCORE', at_key, cutoff, '-inf', 'LIMIT', 0, 1)
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', log_key, '-inf', expired[1])
    redis.call('ZREMRANGEBYSCORE', at_key, '-inf', cutoff)
  end
  redis.call('ZREMRANGEBYRANK', log_key, 0, -(keep + 1))
  redis.call('ZREMRANGEBYRANK', at_key, 0, -(keep + 1))
  redis.call('EXPIRE', log_key, log_ttl)
  redis.call('EXPIRE', at_key, log_ttl)
  routed[#routed + 1] = ARGV[9 + i] .. ':' .. seq
  seqs[#seqs + 1] = counted
end
redis.call('PUBLISH', ARGV[7], ARGV[8] .. '|' .. table.concat(routed, ',') .. '|' .. pop)
return seqs
"""
PUBLISH_SHA = hashlib.sha1(PUBLISH_SCRIPT.encode()).hexdigest()


def _keys(tenant_id: int, agent_id: int) -> tuple[str, str, str]:
    suffix = f"{tenant_id}:{agent_id}"
    return f"stamgast:seq:{suffix}", f"stamgast:log:{suffix}", f"stamgast:at:{suffix}"


class RedisBroker:
    """Pops across any number of processes sharing one Redis."""

    def __init__(self, settings: Settings, *, clock: Clock = time.time) -> None:
        if not settings.redis_url:
            raise ValueError("RedisBroker needs settings.redis_url")
        self._window = float(settings.replay_window_seconds)
        self._clock = clock
        self._local = LocalSubscribers(settings.stream_queue_size)
        url = settings.redis_url
        self._redis = Redis.from_url(
            url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT
        )
        # The listener blocks on reads by design, so its client has no read timeout.
        self._listener_redis = Redis.from_url(url, socket_connect_timeout=COMMAND_TIMEOUT)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._invalidations = InvalidationHandlers()
        # Our publishes by (pop id, first agent of the batch): state, and when published
        # (oldest first, as dicts keep insertion order).
        self._own: dict[tuple[str, int], tuple[int, float]] = {}

    async def start(self, wait_seconds: float = 3.0) -> None:
        """Start the listener; wait a little for it, but start anyway when Redis is down."""
        self._listener = asyncio.create_task(self._listen_forever(), name="screen-pop-listener")
        try:
            await asyncio.wait_for(self._subscribed.wait(), wait_seconds)
        except TimeoutError:
            logger.warning("screen-pop: Redis not reachable yet; live pops wait for it")

    async def stop(self) -> None:
        self._local.close_all("shutdown")
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()
        await self._listener_redis.aclose()

    def healthy(self) -> bool:
        return self._subscribed.is_set()

    async def publish(self, tenant_id: int, agent_ids: Sequence[int], pop: Pop) -> None:
        await self.publish_bodies(
            tenant_id, [(agent_ids, pop.model_dump_json().encode())], pop.pop_id
        )

    async def publish_bodies(
        self, tenant_id: int, audiences: Sequence[Audience], pop_id: str
    ) -> None:
        now_ms = int(self._clock() * 1000)
        cutoff_ms = now_ms - int(self._window * 1000)
        log_ttl = int(self._window) + 60
        received = webhook_timing.received_of(pop_id)
        tenant_tag = tenant_id if received is None else f"{tenant_id};{int(received * 1e6)}"
        calls: list[list[bytes | int | str]] = []
        batches: list[tuple[list[int], bytes]] = []
        # One script call per audience's batch, all in one pipeline (one round trip): each
        # audience's body is logged and published once, however many agents share it.
        for agent_ids, pop_json in audiences:
            agents = unique_agents(agent_ids)
            for start in range(0, len(agents), AGENTS_PER_SCRIPT):
                batch = agents[start : start + AGENTS_PER_SCRIPT]
                keys = [key for agent_id in batch for key in _keys(tenant_id, agent_id)]
                calls.append([
                    PUBLISH_SHA, len(keys), *keys, pop_json, now_ms, cutoff_ms, log_ttl,
                    SEQ_TTL_SECONDS, MAX_LOG_ENTRIES, CHANNEL, tenant_tag, *batch,
                ])  # fmt: skip
                batches.append((batch, pop_json))
        if not calls:
            return
        self._forget_old_publishes()
        published = self._clock()
        for batch, _pop_json in batches:
            self._own[(pop_id, batch[0])] = (_PENDING, published)
        try:
            try:
                replies = await self._run_scripts(calls)
            except NoScriptError:
                # Redis restarted and lost its script cache; NOSCRIPT means nothing ran.
                await self._redis.script_load(PUBLISH_SCRIPT)
                replies = await self._run_scripts(calls)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
        for (batch, pop_json), seqs in zip(batches, replies, strict=True):
            key = (pop_id, batch[0])
            state = self._own.get(key, (_PENDING, published))[0]
            if state == _BY_LISTENER:
                del self._own[key]  # its pub/sub copy came first and was delivered
                continue
            self._own[key] = (_BY_REPLY, published)
            for agent_id, seq in zip(batch, seqs, strict=True):
                if self._local.wants(tenant_id, agent_id):
                    message = delivery_message(int(seq), pop_json)
                    self._local.deliver(tenant_id, agent_id, int(seq), message)

    async def _run_scripts(self, calls: list[list[bytes | int | str]]) -> list[list[int]]:
        """Each script's seqs, in its batch's order."""
        # EVALSHA in a plain pipeline: one round trip (redis-py's Script objects would add
        # a SCRIPT EXISTS round trip to every pipelined publish).
        async with self._redis.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.execute_command("EVALSHA", *call)
            replies: list[list[int]] = await pipe.execute()
        return replies

    def _forget_old_publishes(self) -> None:
        """Drop our publishes whose copy is long overdue (the listener reconnected)."""
        cutoff = self._clock() - OWN_PUBLISH_SECONDS
        own = self._own
        while own:
            key = next(iter(own))
            if own[key][1] >= cutoff:
                return
            del own[key]

    def _arrived_before(self, pop_json: bytes, first_agent: int) -> bool:
        """For the listener: True when this copy is of our publish and its reply already
        delivered it here (the copy is dropped); marks it delivered by the listener when
        the reply is still on its way."""
        if not self._own:
            return False
        pop_id = webhook_timing.pop_id_of(pop_json[:80].decode(errors="replace"))
        entry = None if pop_id is None else self._own.get((pop_id, first_agent))
        if entry is None:
            return False  # another process's pop
        assert pop_id is not None
        if entry[0] == _BY_REPLY:
            del self._own[(pop_id, first_agent)]
            return True
        self._own[(pop_id, first_agent)] = (_BY_LISTENER, entry[1])
        return False

    async def replay(
        self, tenant_id: int, agent_id: int, after_seq: int
    ) -> tuple[list[tuple[int, bytes]], bool]:
        seq_key, log_key, at_key = _keys(tenant_id, agent_id)
        cutoff_ms = int((self._clock() - self._window) * 1000)
        try:
            # One transaction: the counter and the log are read as one snapshot.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(seq_key)
                pipe.zrevrangebyscore(at_key, cutoff_ms, "-inf", start=0, num=1)
                pipe.zrangebyscore(log_key, f"({after_seq}", "+inf", withscores=True)
                raw_last, expired, logged = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
        # Entries past the window that no publish has trimmed yet are not replayed.
        expired_upto = int(expired[0]) if expired else 0
        entries = [(int(score), member) for member, score in logged if int(score) > expired_upto]
        return replay_result(entries, after_seq, int(raw_last or 0))

    async def last_seq(self, tenant_id: int, agent_id: int) -> int:
        try:
            raw = await self._redis.get(_keys(tenant_id, agent_id)[0])
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
        return int(raw or 0)

    async def epoch(self) -> str:
        try:
            # SET NX then GET in one transaction: every process adopts the first one set.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(EPOCH_KEY, new_epoch(), nx=True)
                pipe.get(EPOCH_KEY)
                _, raw = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
        return bytes(raw).decode()

    def subscribe(self, tenant_id: int, agent_id: int) -> Subscription:
        return self._local.subscription(tenant_id, agent_id)

    async def invalidate(self, message: str) -> None:
        # Here at once, not after the round trip (our own listener hears it again: handlers
        # are idempotent). Used without start() too, by the CLI: publishing needs no listener.
        self._invalidations.deliver(message)
        try:
            await self._redis.publish(INVALIDATIONS, message)
        except (RedisError, OSError) as exc:
            logger.warning(
                "screen-pop: invalidation not sent to other processes (%s): they notice "
                "within their cache time",
                type(exc).__name__,
            )

    def on_invalidation(self, handler: InvalidationHandler) -> None:
        self._invalidations.add(handler)

    async def _listen_forever(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            try:
                await self._listen_once()
            except Exception as exc:  # whatever broke, live pops need the listener back
                logger.warning("screen-pop: Redis listener lost (%r); reconnecting", exc)
            if self._subscribed.is_set():
                backoff = BACKOFF_FIRST  # it had worked: this is a fresh outage
            self._subscribed.clear()
            # Jitter: after a Redis restart every process must not reconnect in lockstep.
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _listen_once(self) -> None:
        pubsub = self._listener_redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL, INVALIDATIONS)
            heard = time.monotonic()
            while True:
                message = await pubsub.get_message(timeout=LISTEN_POLL)
                now = time.monotonic()
                if message is None:
                    if now - heard > SILENCE_LIMIT:
                        raise ConnectionError("no answer from Redis")
                    await pubsub.ping()
                    continue
                heard = now
                if message["type"] == "subscribe":
                    # Subscribed (again, perhaps silently by the client's own retry): what
                    # was published while we were away is only in the logs, so every
                    # subscription checks them.
                    self._subscribed.set()
                    self._local.catch_up_all()
                    self._invalidations.deliver(INVALIDATE_ALL)
                elif message["type"] == "message" and message["channel"] == INVALIDATIONS_B:
                    self._invalidations.deliver(message["data"].decode(errors="replace"))
                elif message["type"] == "message":
                    self._dispatch(message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, payload: bytes) -> None:
        try:
            tenant_raw, routed, pop_json = payload.split(b"|", 2)
            tenant_raw, _, received_raw = tenant_raw.partition(b";")
            tenant_id = int(tenant_raw)
            pairs = routed.split(b",")
            if self._arrived_before(pop_json, int(pairs[0].split(b":")[0])):
                return
            for pair in pairs:
                agent_raw, seq_raw = pair.split(b":")
                agent_id, seq = int(agent_raw), int(seq_raw)
                if self._local.wants(tenant_id, agent_id):
                    if received_raw:
                        _mark_received(pop_json, int(received_raw))
                        received_raw = b""
                    self._local.deliver(tenant_id, agent_id, seq, delivery_message(seq, pop_json))
        except ValueError:
            logger.warning("screen-pop: ignored a malformed message on %s", CHANNEL)


def _mark_received(pop_json: bytes, received_us: int) -> None:
    """Remember a pop's received time from another process, for the frames written here."""
    pop_id = webhook_timing.pop_id_of(pop_json[:80].decode(errors="replace"))
    if pop_id is not None:
        webhook_timing.mark(pop_id, received_us / 1e6)
