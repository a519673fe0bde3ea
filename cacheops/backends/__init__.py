"""The shared-cache backend named by settings.CACHEOPS_BACKEND, one instance per process."""

from __future__ import annotations

import os
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from cacheops.backends.base import CacheBackend, CacheError, CacheItemTooLarge, CacheUnavailable

__all__ = ["CacheBackend", "CacheError", "CacheItemTooLarge", "CacheUnavailable", "backend_get", "backend_reset"]

BACKENDS = {
    "redis": "cacheops.backends.redis.RedisBackend",
    "momento": "cacheops.backends.momento.MomentoBackend",
}

_lock = threading.Lock()
_backend: CacheBackend | None = None
_backend_pid: int | None = None


def _backend_class() -> type[CacheBackend]:
    name = settings.CACHEOPS_BACKEND
    try:
        backend_class = import_string(BACKENDS.get(name, name))
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"CACHEOPS_BACKEND is {name!r}: expected 'redis', 'momento' or the dotted path of a class ({exc})"
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, CacheBackend)):
        raise ImproperlyConfigured(f"CACHEOPS_BACKEND {name!r} is not a CacheBackend subclass")
    return backend_class


def backend_get() -> CacheBackend:
    """Return this process's cache backend, creating it on first use."""
    global _backend, _backend_pid
    with _lock:
        # A forked worker must not share its parent's connections (gRPC channels break across fork).
        if _backend is None or _backend_pid != os.getpid():
            _backend = _backend_class()()
            _backend_pid = os.getpid()
        return _backend


def backend_reset() -> None:
    """Close and forget this process's backend, so the next backend_get reads the settings again."""
    global _backend, _backend_pid
    with _lock:
        if _backend is not None and _backend_pid == os.getpid():
            _backend.close()
        _backend = _backend_pid = None
