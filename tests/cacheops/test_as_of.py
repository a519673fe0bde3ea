"""A build as of a future instant would release embargoed content now: command, task and operation refuse it."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from cacheops import operations, tasks
from cacheops.errors import FutureAsOf
from cacheops.manifest import manifest_read
from cacheops.models import Operation
from cms.domain import time_text
from tests.cacheops.conftest import process_env, show_create

pytestmark = pytest.mark.django_db


def future(**delta) -> str:
    return time_text(datetime.now(UTC) + timedelta(**delta))


def test_the_command_refuses_a_future_as_of_before_building_or_queueing_anything(dynamodb, redis_engine):
    show_create("チェンソーマン", "chainsaw-man", ["犬とチェンソー"], publish_at=datetime.now(UTC) + timedelta(days=7))
    airtime = future(days=7, minutes=1)

    for mode in (["--sync"], []):
        with pytest.raises(CommandError, match=rf"^--as-of '{airtime}' refused: as of {airtime} is in the future"):
            call_command("rebuild_catalog", "--as-of", airtime, *mode)

    assert redis_engine.keys() == set()
    assert not Operation.objects.exists()


def test_the_command_run_by_an_operator_exits_non_zero_with_one_line(redis_engine, tmp_path):
    airtime = future(hours=2)

    done = subprocess.run(
        [sys.executable, "manage.py", "rebuild_catalog", "--sync", "--as-of", airtime],
        cwd=django_settings.BASE_DIR,
        env=process_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"CommandError: --as-of '{airtime}' refused: as of {airtime} is in the future (now ")
    assert line.endswith(
        "publishing it now would release embargoed content, and staging a future version is not supported yet"
    )
    assert redis_engine.keys() == set()


def test_the_rebuild_task_refuses_a_future_as_of_and_is_not_retried(dynamodb, redis_engine):
    with pytest.raises(FutureAsOf, match="is in the future"):
        tasks.rebuild.delay("catalog", as_of=future(days=1))

    assert not isinstance(FutureAsOf("x"), tasks.TRANSIENT)
    assert redis_engine.keys() == set()


def test_an_as_of_within_the_clocks_skew_is_now(dynamodb, redis_engine):
    show_create("ダンダダン", "dandadan", ["ダンダダン"])
    almost_now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)

    operations.family_rebuild(family="catalog", as_of=almost_now)

    assert manifest_read("catalog")["as_of"] == time_text(almost_now)
