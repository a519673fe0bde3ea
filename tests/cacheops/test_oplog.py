"""The operations log: every operation ends with a result, and those of dead workers end as abandoned."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cacheops.models import Operation
from cacheops.oplog import operation_end, operation_log, operations_abandoned_mark

pytestmark = pytest.mark.django_db


def aged(op: Operation, seconds: float, *, heartbeat: bool = True) -> Operation:
    """Make `op` look as if its last sign of life was `seconds` ago (or, with no heartbeat, its start)."""
    then = timezone.now() - timedelta(seconds=seconds)
    Operation.objects.filter(pk=op.pk).update(heartbeat_at=then if heartbeat else None, started_at=then)
    return op


def test_operations_that_missed_three_heartbeats_are_marked_abandoned_and_the_others_left(settings):
    settings.CACHEOPS_HEARTBEAT_SECONDS = 2
    dead = aged(Operation.objects.create(kind="rebuild", family="catalog"), 7)
    older_than_heartbeats = aged(Operation.objects.create(kind="prewarm", family="catalog"), 3600, heartbeat=False)
    alive = aged(Operation.objects.create(kind="rebuild", family="catalog"), 3)
    finished = aged(Operation.objects.create(kind="rebuild", family="catalog", result="published"), 3600)

    assert sorted(operations_abandoned_mark()) == sorted([dead.pk, older_than_heartbeats.pk])

    results = dict(Operation.objects.values_list("pk", "result"))
    assert results == {
        dead.pk: "abandoned",
        older_than_heartbeats.pk: "abandoned",
        alive.pk: "",
        finished.pk: "published",
    }
    assert Operation.objects.get(pk=dead.pk).detail.startswith("no sign of life for more than 6 s")
    assert operations_abandoned_mark() == []
    assert operation_end(dead.pk) == f"operation {dead.pk} ended: abandoned"
    assert operation_end(alive.pk) is None and operation_end(999999) is None


def test_every_operation_that_returns_or_raises_ends_with_a_result():
    with operation_log("invalidate", "catalog", "oki") as quiet:
        assert Operation.objects.get(pk=quiet.pk).result == ""  # in progress
    with pytest.raises(KeyboardInterrupt), operation_log("rebuild", "catalog", "oki") as interrupted:
        raise KeyboardInterrupt

    assert Operation.objects.get(pk=quiet.pk).result == "done"
    stopped = Operation.objects.get(pk=interrupted.pk)
    assert (stopped.result, stopped.detail) == ("failed", "KeyboardInterrupt: ")
    assert stopped.heartbeat_at >= stopped.started_at and stopped.duration_ms is not None
