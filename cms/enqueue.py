"""Queue Celery tasks by name, so that no module imports another's tasks (Celery's autodiscovery does)."""

from functools import cache

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


def queue_depth(timeout_s: float = 1.0) -> int:
    """Tasks waiting in the default queue (not yet taken by a worker); raises if the broker does not answer in time."""
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout_s)
        channel = connection.default_channel
        try:
            return channel.queue_declare(queue=app.conf.task_default_queue, passive=True).message_count
        except ChannelError:
            return 0  # Redis keeps no empty queue: a queue the broker does not know holds nothing
