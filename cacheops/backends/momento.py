"""Momento backend: the official SDK, one client per process, the cache created if missing."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from momento import CacheClient, Configurations, CredentialProvider, TopicClient, TopicConfigurations
from momento.config import Configuration
from momento.errors import MomentoErrorCode, SdkException
from momento.responses import (
    CacheDelete,
    CacheGet,
    CacheIncrement,
    CacheSet,
    CacheSetIfNotExists,
    CreateCache,
    TopicPublish,
    TopicSubscribe,
)
from momento.responses.mixins import ErrorResponseMixin

from cacheops.backends.base import CacheBackend, CacheError, CacheItemTooLarge, CacheUnavailable, Subscription

# The service keeps nothing longer; every call names its own TTL, this only satisfies the SDK.
MAX_TTL = timedelta(hours=24)
# The SDK gives a subscription's stream the client's deadline: one subscription lasts this long, then the caller
# subscribes again (and reads the state afresh, as after any break).
SUBSCRIPTION_LIFETIME = timedelta(minutes=10)

logger = logging.getLogger(__name__)

TRANSIENT_CODES = {
    MomentoErrorCode.SERVER_UNAVAILABLE,
    MomentoErrorCode.TIMEOUT_ERROR,
    MomentoErrorCode.CONNECTION_ERROR,
    MomentoErrorCode.INTERNAL_SERVER_ERROR,
    MomentoErrorCode.CANCELLED_ERROR,
    MomentoErrorCode.CLIENT_RESOURCE_EXHAUSTED,
    # Throttling (the default quota is 100 operations/s) passes like an outage: serve stale, retry.
    MomentoErrorCode.LIMIT_EXCEEDED_ERROR,
}
# The service says "item size limit exceeded"; the SDK itself refuses oversized messages before sending.
TOO_LARGE_MARKERS = ("item size", "request size", "larger than max")


def _error(operation: str, key: str, response: object) -> CacheError:
    """Return the exception for an SDK response that is not a success."""
    if not isinstance(response, ErrorResponseMixin):
        return CacheError(operation, key, f"unexpected response {response!r}")
    code, message = response.error_code, response.message
    reason = f"{code.name}: {message}"
    is_size_code = code in (MomentoErrorCode.LIMIT_EXCEEDED_ERROR, MomentoErrorCode.INVALID_ARGUMENT_ERROR)
    if is_size_code and any(marker in message.lower() for marker in TOO_LARGE_MARKERS):
        return CacheItemTooLarge(operation, key, reason)
    if code in TRANSIENT_CODES:
        return CacheUnavailable(operation, key, reason)
    return CacheError(operation, key, reason)


class CacheNotFound(CacheUnavailable):
    """The Momento cache does not exist (deleted, or a wrong MOMENTO_CACHE_NAME); retried, as it may come back."""


def _cache_missing(response: object) -> bool:
    # Data calls answer a missing key with a miss: NOT_FOUND always means the cache itself.
    return isinstance(response, ErrorResponseMixin) and response.error_code == MomentoErrorCode.NOT_FOUND_ERROR


def credentials_from_settings() -> CredentialProvider:
    """Return credentials for MOMENTO_LOCAL (host:port) if set, else MOMENTO_API_KEY and MOMENTO_ENDPOINT."""
    if settings.MOMENTO_LOCAL:
        host, _, port = settings.MOMENTO_LOCAL.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"MOMENTO_LOCAL must be host:port, not {settings.MOMENTO_LOCAL!r}")
        return CredentialProvider.for_momento_local(host, int(port))
    try:
        return CredentialProvider.from_environment_variables_v2()
    except (RuntimeError, SdkException) as exc:
        raise ImproperlyConfigured(
            f"Momento credentials: {exc}. Set MOMENTO_API_KEY and MOMENTO_ENDPOINT, or MOMENTO_LOCAL=host:port."
        ) from exc


def configuration_from_settings() -> Configuration:
    """Return the SDK configuration: in-region timeouts in production, laptop ones against a local server."""
    if settings.MOMENTO_LOCAL:
        return Configurations.Laptop.latest()
    return Configurations.InRegion.Default.latest()


class MomentoBackend(CacheBackend):
    """Keep the snapshot in a Momento cache."""

    def __init__(
        self,
        *,
        cache_name: str | None = None,
        credential_provider: CredentialProvider | None = None,
        configuration: Configuration | None = None,
    ) -> None:
        self.cache_name = cache_name or settings.MOMENTO_CACHE_NAME
        # A local server restarts empty: create the cache again. On Momento a missing cache is a mistake to report.
        self._cache_recreate = bool(settings.MOMENTO_LOCAL)
        self._exit_stack = ExitStack()
        self._credentials = credential_provider or credentials_from_settings()
        # Topic clients are made on first use: most processes publish or subscribe, not both.
        self._publisher: TopicClient | None = None
        self._subscriber: TopicClient | None = None
        self._publisher_lock = threading.Lock()
        # NOTE: the constructor, not CacheClient.create: no eager connect, so no extra wait at startup.
        self._client = self._exit_stack.enter_context(
            CacheClient(configuration or configuration_from_settings(), self._credentials, MAX_TTL)
        )
        try:
            self._cache_create()
        except CacheError:
            self.close()
            raise

    def _cache_create(self) -> None:
        match response := self._client.create_cache(self.cache_name):
            case CreateCache.Success() | CreateCache.CacheAlreadyExists():
                return
        raise _error("create cache", self.cache_name, response)

    def _sent(self, operation: str, key: str, send: Callable[[], object]) -> object:
        """Return the response to `send()`; when the cache is missing, create it and send again (local server)."""
        response = send()
        if not _cache_missing(response):
            return response
        if not self._cache_recreate:
            raise CacheNotFound(
                operation,
                key,
                f"the Momento cache {self.cache_name!r} does not exist: check MOMENTO_CACHE_NAME, "
                "or create the cache again if it was deleted",
            )
        logger.warning("The Momento cache %r is gone (the local server restarted); creating it again", self.cache_name)
        self._cache_create()
        return send()

    def get(self, key: str) -> bytes | None:
        match response := self._sent("get", key, lambda: self._client.get(self.cache_name, key)):
            case CacheGet.Hit(value_bytes=value):
                return value
            case CacheGet.Miss():
                return None
        raise _error("get", key, response)

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        ttl = timedelta(seconds=ttl_s)
        match response := self._sent("set", key, lambda: self._client.set(self.cache_name, key, value, ttl)):
            case CacheSet.Success():
                return
        raise _error("set", key, response)

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        ttl = timedelta(seconds=ttl_s)
        response = self._sent("add", key, lambda: self._client.set_if_not_exists(self.cache_name, key, value, ttl))
        match response:
            case CacheSetIfNotExists.Stored():
                return True
            case CacheSetIfNotExists.NotStored():
                return False
        raise _error("add", key, response)

    def delete(self, key: str) -> None:
        match response := self._sent("delete", key, lambda: self._client.delete(self.cache_name, key)):
            case CacheDelete.Success():
                return
        raise _error("delete", key, response)

    def incr(self, key: str, ttl_s: int) -> int:
        ttl = timedelta(seconds=ttl_s)
        match response := self._sent("incr", key, lambda: self._client.increment(self.cache_name, key, 1, ttl)):
            case CacheIncrement.Success(value=count):
                return count
        raise _error("incr", key, response)

    def _topics(self, lifetime: timedelta | None = None) -> TopicClient:
        """A topic client: publishing with the default deadline, subscriptions with one as long as they last."""
        configuration = TopicConfigurations.Default.latest()
        if lifetime is not None:
            configuration = configuration.with_client_timeout(lifetime)
        return TopicClient(configuration, self._credentials)

    def publish(self, channel: str, message: bytes) -> None:
        with self._publisher_lock:
            if self._publisher is None:
                self._publisher = self._exit_stack.enter_context(self._topics())
        response = self._sent("publish", channel, lambda: self._publisher.publish(self.cache_name, channel, message))
        if not isinstance(response, TopicPublish.Success):
            raise _error("publish", channel, response)

    def subscribe(self, channel: str) -> Subscription:
        with self._publisher_lock:
            if self._subscriber is None:
                self._subscriber = self._exit_stack.enter_context(self._topics(SUBSCRIPTION_LIFETIME))
        response = self._sent("subscribe", channel, lambda: self._subscriber.subscribe(self.cache_name, channel))
        if not isinstance(response, TopicSubscribe.Subscription):
            raise _error("subscribe", channel, response)
        return MomentoSubscription(channel, response)

    def close(self) -> None:
        self._exit_stack.close()

    def ttl(self, key: str) -> float | None:
        # The SDK cannot read a TTL: callers fall back to the expiry they recorded themselves.
        return None


_ENDED = object()


class MomentoSubscription(Subscription):
    """A Momento Topics subscription, its stream read on a thread of its own into a queue.

    The stream is read as the SDK opened it, not through the SDK's iterator: that one retries a closed or failed
    stream forever without returning, where this subscription must end so its owner subscribes again.
    """

    def __init__(self, channel: str, subscription: TopicSubscribe.Subscription) -> None:
        self.channel = channel
        self._subscription = subscription
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._ended: str | None = None
        threading.Thread(target=self._read, name=f"topic-{channel}", daemon=True).start()

    def _read(self) -> None:
        try:
            for item in self._subscription._client_stream:
                if item.WhichOneof("kind") == "item":
                    value = item.item.value
                    self._inbox.put(value.binary if value.WhichOneof("kind") == "binary" else value.text.encode())
        except Exception as exc:  # the stream's end: cancelled, past its deadline, or the connection lost
            self._ended = f"{type(exc).__name__}: {exc}"[:300]
        else:
            self._ended = "the stream ended"
        self._inbox.put(_ENDED)

    def receive(self, timeout_s: float) -> bytes | None:
        try:
            message = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if message is _ENDED:
            self._inbox.put(_ENDED)  # every later call says so too
            raise CacheUnavailable("receive", self.channel, f"the subscription ended: {self._ended}")
        return message

    def close(self) -> None:
        self._subscription.unsubscribe()
