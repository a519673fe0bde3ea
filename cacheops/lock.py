"""The build lock of a family: saves duplicate work; publication order never depends on it."""

from __future__ import annotations

import contextlib
import uuid

from django.conf import settings

from . import keys
from .backends import backend_get
from .errors import BuildBusy


@contextlib.contextmanager
def build_lock(family: str):
    """Hold the build lock of `family` (value: this build's id; it expires by itself)."""
    backend, build_id = backend_get(), uuid.uuid4().hex
    key = keys.lock_key(family)
    if not backend.add(key, build_id.encode(), settings.CACHEOPS_LOCK_SECONDS):
        raise BuildBusy(f"another build of {family} is running")
    try:
        yield build_id
    finally:
        if backend.get(key) == build_id.encode():
            backend.delete(key)


def lock_held(family: str, build_id: str) -> bool:
    """Whether the lock of `family` is still this build's."""
    return backend_get().get(keys.lock_key(family)) == build_id.encode()
