"""Changes whose build task was lost are picked up by the periodic sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cacheops.build import operations, pending
from cacheops.manifest import manifest_read, snapshot_read
from cacheops.models import BuildRequest, PendingChange

from .conftest import show_create

pytestmark = pytest.mark.django_db


def test_changes_left_by_a_lost_build_task_are_built_by_the_sweep(dynamodb, redis_engine):
    program = show_create("取り残された番組", "left-behind").program
    # A save noted its change and flagged a build, but the task never ran (worker lost, retries spent).
    assert pending.change_record("catalog", program.id) is True
    PendingChange.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    BuildRequest.objects.update(queued_at=timezone.now() - timedelta(minutes=5))  # no worker took it up

    assert operations.stalled_changes_requeue(older_than_s=60) == ["catalog"]

    manifest, body = snapshot_read("catalog")
    assert "取り残された番組".encode() in body
    assert not PendingChange.objects.exists()
    assert BuildRequest.objects.get(family="catalog").queued is False


def test_recent_changes_are_left_to_their_own_build(dynamodb, redis_engine):
    program = show_create("待機中", "waiting").program
    pending.change_record("catalog", program.id)

    assert operations.stalled_changes_requeue(older_than_s=60) == []
    assert manifest_read("catalog") is None
