"""Redis backend: redis-py against CACHEOPS_REDIS_URL (REDIS_URL unless set)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from cacheops.backends.base import CacheBackend, CacheError, CacheUnavailable, Subscription

CONNECT_TIMEOUT_S = 2.0
# Generous enough for a 5 MB value on a slow link, short enough that readers fall back to stale.
SOCKET_TIMEOUT_S = 5.0
# A subscription's connection is checked (PING) when it has been silent this long: a dead peer is noticed.
PUBSUB_HEALTH_CHECK_S = 10


@contextmanager
def _translated(operation: str, key: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise CacheUnavailable(operation, key, str(exc)) from exc
    except redis.RedisError as exc:
        raise CacheError(operation, key, str(exc)) from exc


class RedisBackend(CacheBackend):
    """Keep the snapshot in Redis."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or settings.CACHEOPS_REDIS_URL
        self._client = redis.Redis.from_url(
            self.url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S
        )

    def get(self, key: str) -> bytes | None:
        with _translated("get", key):
            return self._client.get(key)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        with _translated("get_many", f"{keys[0]} and {len(keys) - 1} more"):
            return self._client.mget(keys)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        with _translated("set", key):
            self._client.set(key, value, px=int(ttl_s * 1000))

    def ttl(self, key: str) -> float | None:
        with _translated("ttl", key):
            left = self._client.pttl(key)
        # PTTL answers -2 for an absent key and -1 for a key that never expires (none of ours).
        return 0.0 if left == -2 else None if left < 0 else left / 1000

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        with _translated("add", key):
            return bool(self._client.set(key, value, ex=ttl_s, nx=True))

    def delete(self, key: str) -> None:
        with _translated("delete", key):
            self._client.delete(key)

    def incr(self, key: str, ttl_s: int) -> int:
        # Creating the counter with its TTL first (NX) keeps later increments from extending it.
        with _translated("incr", key), self._client.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=ttl_s, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]

    def publish(self, channel: str, message: bytes) -> None:
        with _translated("publish", channel):
            self._client.publish(channel, message)

    def subscribe(self, channel: str) -> Subscription:
        return RedisSubscription(self.url, channel)

    def close(self) -> None:
        self._client.close()


class RedisSubscription(Subscription):
    """SUBSCRIBE on a connection of its own, which is never reconnected behind the caller's back: a broken one
    raises, so the caller knows messages may have been missed."""

    def __init__(self, url: str, channel: str) -> None:
        self.channel = channel
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=PUBSUB_HEALTH_CHECK_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub = self._client.pubsub()
        try:
            with _translated("subscribe", channel):
                self._pubsub.subscribe(channel)
                # Subscribed once the server confirms: only from then on is every message received.
                confirmed = self._pubsub.get_message(timeout=SOCKET_TIMEOUT_S)
            if confirmed is None or confirmed["type"] != "subscribe":
                raise CacheUnavailable("subscribe", channel, f"no confirmation, got {confirmed!r}")
        except CacheError:
            self.close()
            raise

    def receive(self, timeout_s: float) -> bytes | None:
        with _translated("receive", self.channel):
            message = self._pubsub.get_message(timeout=timeout_s)
        return message["data"] if message is not None and message["type"] == "message" else None

    def close(self) -> None:
        try:
            self._pubsub.close()
        except (redis.RedisError, OSError, AttributeError):
            pass  # closed already, or its connection was cut: nothing left to release
        finally:
            self._client.close()
