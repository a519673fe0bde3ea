"""Purge: forget a family's current version, back to the previous one if it is intact, then rebuild in full."""

from __future__ import annotations

from . import families, lock, operations, publisher
from .errors import PublishError
from .families import CATALOG
from .manifest import manifest_read
from .models import Operation
from .oplog import operation_log


def purge(*, family: str = CATALOG, requested_by: str = "") -> Operation:
    """Make the previous version current (readers switch within a poll), else remove the pointer; rebuild in full."""
    with operation_log("purge", family, requested_by) as op, lock.build_lock(family):
        current = manifest_read(family)
        op.version_before = current["version"] if current else ""
        op.result, op.version_after, op.detail = _forget(family)
    # After the lock is released: the rebuild takes it, and may run inline.
    operations.rebuild_request(family=family, requested_by=requested_by)
    return op


def _forget(family: str) -> tuple[str, str, str]:
    """Roll back to an intact previous version, or remove the manifest; return (result, version after, detail)."""
    try:
        result = publisher.rollback(family, generation=families.generation_take(family))
    except PublishError as exc:
        publisher.manifest_remove(family, forget=True)
        return "done", "", f"manifest removed: {exc}"
    if result.outcome == "superseded":
        return "superseded", result.version, "a later build published first"
    return "done", result.version, f"previous version {result.version} current again"
