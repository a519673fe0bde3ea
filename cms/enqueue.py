"""Queue Celery tasks by name, so that no module imports another's tasks (Celery's autodiscovery does)."""

import time
from collections.abc import Callable
from functools import cache

from celery import states
from celery.result import AsyncResult
from kombu.exceptions import ChannelError

from .celery import app


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
