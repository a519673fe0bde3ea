"""The contract every shared-cache backend keeps: bytes stored under full keys, each with a TTL, and messages
published on channels to whoever subscribes at that moment."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class CacheError(Exception):
    """A cache operation failed; retrying the same call will not help."""

    def __init__(self, operation: str, key: str, reason: str) -> None:
        self.operation = operation
        self.key = key
        self.reason = reason
        super().__init__(f"cache {operation} {key!r} failed: {reason}")

    def __reduce__(self):
        # Celery pickles a failed task's exception for its result: rebuild it from the same three parts.
        return type(self), (self.operation, self.key, self.reason)


class CacheUnavailable(CacheError):
    """The cache could not be reached or did not answer in time; the same call may succeed later."""


class CacheItemTooLarge(CacheError):
    """The cache refused a value for its size."""


class Subscription(ABC):
    """Messages published on one channel from the moment of subscribing; nothing from before, nothing kept."""

    @abstractmethod
    def receive(self, timeout_s: float) -> bytes | None:
        """The next message, or None if none came within timeout_s.

        Raises CacheUnavailable once the subscription is broken (the connection dropped): messages may have been
        missed since, so subscribe again and read the state afresh.
        """

    @abstractmethod
    def close(self) -> None:
        """Stop receiving and release the connection."""


class CacheBackend(ABC):
    """Store bytes under string keys until their TTL runs out.

    Keys arrive complete (CACHEOPS_KEY_PREFIX already applied). Every method raises CacheUnavailable
    when the cache cannot be reached and CacheError for any other failure; none returns a failure.
    """

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the bytes stored at key, or None if there are none."""

    @abstractmethod
    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store value at key for ttl_s seconds (kept to the millisecond), replacing what was there."""

    @abstractmethod
    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        """Store value at key for ttl_s seconds only if key is absent; return whether it was stored."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove key; a missing key is not an error."""

    @abstractmethod
    def incr(self, key: str, ttl_s: int) -> int:
        """Add one to the counter at key, creating it to live ttl_s seconds, and return the new count.

        Redis keeps the TTL of the first increment; Momento restarts it on every increment.
        """

    @abstractmethod
    def ttl(self, key: str) -> float | None:
        """Return the seconds key has left to live (0.0 if it is absent), or None if this cache cannot tell."""

    def publish(self, channel: str, message: bytes) -> None:
        """Send `message` to the subscriptions open on `channel` now (none may be)."""
        raise CacheError("publish", channel, f"{type(self).__name__} has no publish/subscribe")

    def subscribe(self, channel: str) -> Subscription:
        """Open a subscription to `channel`: every message published after this returns is received."""
        raise CacheError("subscribe", channel, f"{type(self).__name__} has no publish/subscribe")

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Return the bytes stored at each key, None where there are none, in the order given."""
        return [self.get(key) for key in keys]

    def close(self) -> None:  # noqa: B027 (an optional hook: a backend holding no connections keeps it)
        """Release connections; the backend is not used afterwards."""
