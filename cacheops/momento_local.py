"""A Momento-protocol server in memory, so the real SDK runs over a real connection in development and tests.

Not for production: nothing is persisted, authenticated or limited beyond the item size and TTL.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from momento_wire_types import cacheclient_pb2 as cache_pb
from momento_wire_types import cacheclient_pb2_grpc as cache_grpc
from momento_wire_types import cachepubsub_pb2 as pubsub_pb
from momento_wire_types import cachepubsub_pb2_grpc as pubsub_grpc
from momento_wire_types import common_pb2
from momento_wire_types import controlclient_pb2 as control_pb
from momento_wire_types import controlclient_pb2_grpc as control_grpc

DEFAULT_MAX_ITEM_BYTES = 5 * 1024 * 1024
MAX_TTL_SECONDS = 24 * 60 * 60
SWEEP_INTERVAL_S = 10.0
# A subscription hears a heartbeat this often when nothing is published (Momento sends them too).
HEARTBEAT_INTERVAL_S = 5.0
# Subscriptions served at once: each holds one of the server's threads while it lasts.
MAX_SUBSCRIPTIONS = 256


@dataclass
class _Item:
    value: bytes
    expires_at: float


@dataclass
class _Cache:
    items: dict[bytes, _Item] = field(default_factory=dict)
    swept_at: float = 0.0


class MomentoLocalStore:
    """Hold the caches and their items behind one lock."""

    def __init__(self, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES) -> None:
        self.max_item_bytes = max_item_bytes
        self.lock = threading.Lock()
        self.caches: dict[str, _Cache] = {}

    def cache(self, context: grpc.ServicerContext) -> _Cache:
        """Return the cache named in the call's `cache` header; the caller holds the lock."""
        name = dict(context.invocation_metadata()).get("cache", "")
        if not name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Cache header is missing")
        if name not in self.caches:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Cache not found: {name}")
        return self.caches[name]

    def live(self, cache: _Cache, key: bytes) -> _Item | None:
        """Return the unexpired item at key; the caller holds the lock."""
        item = cache.items.get(key)
        if item is not None and item.expires_at <= time.monotonic():
            del cache.items[key]
            return None
        return item

    def put(self, context: grpc.ServicerContext, cache: _Cache, key: bytes, value: bytes, ttl_ms: int) -> None:
        """Store an item after the checks the service makes on every write; the caller holds the lock."""
        size = len(key) + len(value)
        if size > self.max_item_bytes:
            # The service names the limit in the `err` trailer; the SDK turns it into its message.
            context.set_trailing_metadata((("err", "item_size_limit_exceeded"),))
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"item of {size} bytes (key and value) is over the limit of {self.max_item_bytes} bytes",
            )
        if not 0 < ttl_ms <= MAX_TTL_SECONDS * 1000:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"TTL of {ttl_ms} ms is outside 1 ms to {MAX_TTL_SECONDS} s",
            )
        now = time.monotonic()
        # NOTE: expired items are dropped on read; the sweep keeps unread ones from piling up.
        if now - cache.swept_at > SWEEP_INTERVAL_S:
            cache.items = {k: item for k, item in cache.items.items() if item.expires_at > now}
            cache.swept_at = now
        cache.items[key] = _Item(value, now + ttl_ms / 1000)


def _condition_holds(request: cache_pb._SetIfRequest, item: _Item | None, context: grpc.ServicerContext) -> bool:
    current = None if item is None else item.value
    match request.WhichOneof("condition"):
        case "present":
            return current is not None
        case "absent":
            return current is None
        case "equal":
            return current == request.equal.value_to_check
        case "not_equal":
            return current != request.not_equal.value_to_check
        case "present_and_not_equal":
            return current is not None and current != request.present_and_not_equal.value_to_check
        case "absent_or_equal":
            return current is None or current == request.absent_or_equal.value_to_check
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "SetIf needs a condition")


class CacheService(cache_grpc.ScsServicer):
    """Answer the data plane RPCs the SDK sends; the rest stay UNIMPLEMENTED."""

    def __init__(self, store: MomentoLocalStore) -> None:
        self.store = store

    def Get(self, request, context):  # noqa: N802
        with self.store.lock:
            item = self.store.live(self.store.cache(context), request.cache_key)
        if item is None:
            return cache_pb._GetResponse(result=cache_pb.Miss)
        return cache_pb._GetResponse(result=cache_pb.Hit, cache_body=item.value)

    def Set(self, request, context):  # noqa: N802
        with self.store.lock:
            cache = self.store.cache(context)
            self.store.put(context, cache, request.cache_key, request.cache_body, request.ttl_milliseconds)
        return cache_pb._SetResponse(result=cache_pb.Ok)

    def SetIfNotExists(self, request, context):  # noqa: N802
        with self.store.lock:
            cache = self.store.cache(context)
            if self.store.live(cache, request.cache_key) is not None:
                return cache_pb._SetIfNotExistsResponse(not_stored=cache_pb._SetIfNotExistsResponse._NotStored())
            self.store.put(context, cache, request.cache_key, request.cache_body, request.ttl_milliseconds)
        return cache_pb._SetIfNotExistsResponse(stored=cache_pb._SetIfNotExistsResponse._Stored())

    def SetIf(self, request, context):  # noqa: N802
        with self.store.lock:
            cache = self.store.cache(context)
            if not _condition_holds(request, self.store.live(cache, request.cache_key), context):
                return cache_pb._SetIfResponse(not_stored=cache_pb._SetIfResponse._NotStored())
            self.store.put(context, cache, request.cache_key, request.cache_body, request.ttl_milliseconds)
        return cache_pb._SetIfResponse(stored=cache_pb._SetIfResponse._Stored())

    def Delete(self, request, context):  # noqa: N802
        with self.store.lock:
            self.store.cache(context).items.pop(request.cache_key, None)
        return cache_pb._DeleteResponse()

    def Increment(self, request, context):  # noqa: N802
        with self.store.lock:
            cache = self.store.cache(context)
            item = self.store.live(cache, request.cache_key)
            try:
                value = (int(item.value) if item is not None else 0) + request.amount
            except ValueError:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "Value is not a base 10 integer")
            # Like any write to the service, an increment sets the item's TTL afresh.
            self.store.put(context, cache, request.cache_key, str(value).encode(), request.ttl_milliseconds)
        return cache_pb._IncrementResponse(value=value)


class ControlService(control_grpc.ScsControlServicer):
    """Answer the cache management RPCs."""

    def __init__(self, store: MomentoLocalStore) -> None:
        self.store = store

    def CreateCache(self, request, context):  # noqa: N802
        with self.store.lock:
            if request.cache_name in self.store.caches:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"Cache already exists: {request.cache_name}")
            self.store.caches[request.cache_name] = _Cache()
        return control_pb._CreateCacheResponse()

    def DeleteCache(self, request, context):  # noqa: N802
        with self.store.lock:
            if self.store.caches.pop(request.cache_name, None) is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Cache not found: {request.cache_name}")
        return control_pb._DeleteCacheResponse()

    def FlushCache(self, request, context):  # noqa: N802
        with self.store.lock:
            if request.cache_name not in self.store.caches:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Cache not found: {request.cache_name}")
            self.store.caches[request.cache_name] = _Cache()
        return control_pb._FlushCacheResponse()

    def ListCaches(self, request, context):  # noqa: N802
        limits = control_pb._CacheLimits(
            max_item_size_kb=self.store.max_item_bytes // 1024, max_ttl_seconds=MAX_TTL_SECONDS
        )
        with self.store.lock:
            names = sorted(self.store.caches)
        caches = [control_pb._Cache(cache_name=name, cache_limits=limits) for name in names]
        return control_pb._ListCachesResponse(cache=caches)


class Topics:
    """Momento Topics: what is published to a cache's topic goes to every subscription open on it at that moment
    (there is no history to resume from), numbered in order per topic."""

    def __init__(self, store: MomentoLocalStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.sequences: dict[tuple[str, str], int] = {}
        self.subscribers: dict[tuple[str, str], set[queue.SimpleQueue]] = {}

    def publish(self, name: tuple[str, str], value: pubsub_pb._TopicValue) -> None:
        with self.lock:
            number = self.sequences[name] = self.sequences.get(name, 0) + 1
            subscribers = list(self.subscribers.get(name, ()))
        item = pubsub_pb._SubscriptionItem(item=pubsub_pb._TopicItem(topic_sequence_number=number, value=value))
        for subscriber in subscribers:
            subscriber.put(item)

    def open(self, name: tuple[str, str]) -> queue.SimpleQueue:
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self.lock:
            self.subscribers.setdefault(name, set()).add(inbox)
        return inbox

    def close(self, name: tuple[str, str], inbox: queue.SimpleQueue) -> None:
        with self.lock:
            self.subscribers.get(name, set()).discard(inbox)


class PubsubService(pubsub_grpc.PubsubServicer):
    """The topics plane: Publish and Subscribe, as the SDK's TopicClient calls them."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def _known(self, cache_name: str, context: grpc.ServicerContext) -> None:
        with self.topics.store.lock:
            if cache_name not in self.topics.store.caches:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Cache not found: {cache_name}")

    def Publish(self, request, context):  # noqa: N802
        self._known(request.cache_name, context)
        self.topics.publish((request.cache_name, request.topic), request.value)
        return common_pb2._Empty()

    def Subscribe(self, request, context):  # noqa: N802
        self._known(request.cache_name, context)
        name = (request.cache_name, request.topic)
        inbox = self.topics.open(name)
        try:
            # The SDK expects a heartbeat first: the subscription is open from then on.
            yield pubsub_pb._SubscriptionItem(heartbeat=pubsub_pb._Heartbeat())
            sent_at = time.monotonic()
            while context.is_active():  # checked every second: a cancelled subscription frees its thread soon
                try:
                    yield inbox.get(timeout=1.0)
                except queue.Empty:
                    if time.monotonic() - sent_at < HEARTBEAT_INTERVAL_S:
                        continue
                    yield pubsub_pb._SubscriptionItem(heartbeat=pubsub_pb._Heartbeat())
                sent_at = time.monotonic()
        finally:
            self.topics.close(name, inbox)


class MomentoLocalServer:
    """Serve the Momento data and control planes from one port until stopped."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES) -> None:
        self.host = host
        self.port = port
        self.store = MomentoLocalStore(max_item_bytes)
        # Messages far above the item limit must still arrive, so the size check (not gRPC) answers them.
        message_limit = max(4 * max_item_bytes, 32 * 1024 * 1024)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16 + MAX_SUBSCRIPTIONS, thread_name_prefix="momento-local"),
            options=[
                ("grpc.max_receive_message_length", message_limit),
                ("grpc.max_send_message_length", message_limit),
                # Without this a second server could share a busy port instead of failing to start.
                ("grpc.so_reuseport", 0),
            ],
        )
        cache_grpc.add_ScsServicer_to_server(CacheService(self.store), self._server)
        control_grpc.add_ScsControlServicer_to_server(ControlService(self.store), self._server)
        pubsub_grpc.add_PubsubServicer_to_server(PubsubService(Topics(self.store)), self._server)

    def start(self) -> int:
        """Listen and serve on background threads; return the bound port."""
        try:
            self.port = self._server.add_insecure_port(f"{self.host}:{self.port}")
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._server.start()
        return self.port

    def wait(self) -> None:
        """Block until the server stops."""
        self._server.wait_for_termination()

    def stop(self, grace_s: float | None = None) -> None:
        """Stop serving, letting calls in flight finish for up to grace_s seconds."""
        self._server.stop(grace_s).wait()

    def __enter__(self) -> MomentoLocalServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
