"""A build as of a future instant would release embargoed content now: command, task and operation refuse it."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from cacheops import tasks
from cacheops.build import operations
from cacheops.errors import FutureAsOf
from cacheops.manifest import manifest_read
from cacheops.models import AirtimeSchedule
from cms.domain import time_text
from tests.cacheops.conftest import process_env, show_create

pytestmark = pytest.mark.django_db


def future(**delta) -> str:
    return time_text(datetime.now(UTC) + timedelta(**delta))


def test_the_command_stages_a_future_as_of_instead_of_releasing_it_now(dynamodb, redis_engine):
    show_create("チェンソーマン", "chainsaw-man", ["犬とチェンソー"], publish_at=datetime.now(UTC) + timedelta(days=7))
    call_command("rebuild_catalog", "--sync", "--full")
    current = manifest_read("catalog")
    airtime = future(days=7, minutes=1)

    call_command("rebuild_catalog", "--as-of", airtime, "--sync")

    assert manifest_read("catalog")["version"] == current["version"]  # nothing released early
    schedule = AirtimeSchedule.objects.get()
    assert time_text(schedule.at) == airtime and schedule.prepared_version


def test_the_command_run_by_an_operator_exits_non_zero_with_one_line(redis_engine, tmp_path):
    beyond = "2101-01-01T00:00:00Z"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=django_settings.BASE_DIR, env=process_env(tmp_path)
    )

    done = subprocess.run(
        [sys.executable, "manage.py", "rebuild_catalog", "--sync", "--as-of", beyond],
        cwd=django_settings.BASE_DIR,
        env=process_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0 and done.stdout == ""
    [line] = done.stderr.splitlines()
    # In the configured language (Japanese), the refusal's reason included.
    assert line == (
        f"CommandError: --as-of '{beyond}' は受け付けられません: "
        "2101-01-01 09:00（日本時間）は放送可能な期間（2000〜2100年）を超えています。"
    )
    assert redis_engine.keys() == set()


def test_the_rebuild_task_refuses_a_future_as_of_and_is_not_retried(dynamodb, redis_engine):
    # Run here as a worker runs it, whatever the app's eager setting.
    with pytest.raises(FutureAsOf, match="is in the future.*use prewarm --at"):
        tasks.rebuild.apply(("catalog",), {"as_of": future(days=1)}, throw=True)

    assert not isinstance(FutureAsOf("x"), tasks.TRANSIENT)
    assert redis_engine.keys() == set()


def test_an_as_of_seconds_ahead_is_never_published_as_current(dynamodb, redis_engine):
    show_create("ダンダダン", "dandadan", ["ダンダダン"])
    call_command("rebuild_catalog", "--sync", "--full")
    current = manifest_read("catalog")
    almost_now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=40)

    with pytest.raises(FutureAsOf):
        operations.family_rebuild(family="catalog", as_of=almost_now)
    call_command("rebuild_catalog", "--as-of", time_text(almost_now), "--sync")  # the command stages it instead

    assert manifest_read("catalog") == current
    assert time_text(AirtimeSchedule.objects.get().at) == time_text(almost_now)


def test_an_as_of_in_the_past_is_built_as_of_then(dynamodb, redis_engine):
    show_create("ダンダダン", "dandadan", ["ダンダダン"])
    earlier = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

    operations.family_rebuild(family="catalog", as_of=earlier)

    assert manifest_read("catalog")["as_of"] == time_text(earlier)
