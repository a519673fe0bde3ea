"""Queue Celery tasks by name, so that no module imports another's tasks (Celery's autodiscovery does)."""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from celery import states
from celery.result import AsyncResult
from kombu.exceptions import ChannelError

from .celery import app

logger = logging.getLogger(__name__)


@cache
def _tasks_discover() -> None:
    # A signature by name runs inline under CELERY_TASK_ALWAYS_EAGER only when its task is registered here.
    app.autodiscover_tasks(force=True)


def task_send(name: str, *args, **kwargs) -> AsyncResult:
    """Queue task `name` with these arguments; raise at once if the broker cannot take it."""
    _tasks_discover()
    # No publish retry: callers are often web requests, and a task that could not be sent is picked up
    # by a beat sweep (settings bound each broker wait).
    return app.signature(name, args=args, kwargs=kwargs).apply_async(retry=False)


def task_follow(
    result: AsyncResult, *, timeout_s: float, changed: Callable[[str, object], None], poll_s: float = 0.5
) -> tuple[str, object]:
    """Read a sent task's state until it ends; call `changed(state, info)` whenever its state or progress changes.

    Return the final (state, info); raise TimeoutError if it has not ended within `timeout_s`, and the result
    backend's errors if it cannot be read. A task nobody knows of stays pending until the time runs out.
    """
    deadline = time.monotonic() + timeout_s
    seen = None
    while True:
        # The meta first: once the state reads ended, both come from the one final answer the result keeps.
        info = result.info
        state = result.state
        if state in states.READY_STATES:
            changed(state, result.info)
            return state, result.info
        if (state, info) != seen:
            seen = (state, info)
            changed(state, info)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"task {result.id} still {state} after {timeout_s:g} s")
        time.sleep(min(poll_s, left))


def queue_depth(timeout_s: float = 1.0) -> int:
    """Tasks waiting in the default queue (not yet taken by a worker); raises if the broker does not answer in time."""
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout_s)
        channel = connection.default_channel
        try:
            return channel.queue_declare(queue=app.conf.task_default_queue, passive=True).message_count
        except ChannelError:
            return 0  # Redis keeps no empty queue: a queue the broker does not know holds nothing


def workers_active(timeout_s: float, expected: int | None = None) -> dict[str, list[dict]]:
    """The tasks each worker is running, by worker node name, from the workers that answer Celery's remote control
    within `timeout_s` (a worker busy in its only process does not answer); {} when none does. With `expected`,
    the answer comes as soon as that many workers have answered."""
    return app.control.inspect(timeout=timeout_s, limit=expected or None).active() or {}


@dataclass(frozen=True)
class BrokerGlance:
    """What the broker and the workers said within a bounded wait.

    `depth` is None when the broker did not answer in time; `active` is None when the workers could not be asked
    in time, and {} when none answered.
    """

    depth: int | None
    active: dict[str, list[dict]] | None


def broker_glance(timeout_s: float = 1.0, inspect_timeout_s: float = 0.5, workers: int | None = None) -> BrokerGlance:
    """The default queue's depth and each worker's running tasks, given `timeout_s` at most whatever the broker does.

    `workers` is how many are expected to answer (0: none runs, so none is asked; None: unknown, the whole
    `inspect_timeout_s` is waited).

    The reads run in a thread of their own: a broker that accepts connections but does not answer (stopped,
    overloaded) holds that thread until its socket timeouts, never the caller, who gets what came in time.
    """
    found: dict[str, object] = {}
    deadline = time.monotonic() + timeout_s

    def read() -> None:
        try:
            found["depth"] = queue_depth(timeout_s)
            left = deadline - time.monotonic()
            if workers == 0:
                found["active"] = {}
            elif left > 0.05:
                found["active"] = workers_active(min(inspect_timeout_s, left - 0.05), workers)
        except Exception:
            logger.info("The broker did not answer", exc_info=True)

    reader = threading.Thread(target=read, name="broker glance", daemon=True)
    reader.start()
    reader.join(timeout=max(0.0, deadline - time.monotonic()))
    # Copied once: the thread may still write after the deadline.
    depth, active = found.get("depth"), found.get("active")
    return BrokerGlance(depth if isinstance(depth, int) else None, active if isinstance(active, dict) else None)
