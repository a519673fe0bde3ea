"""An index that lists a program's items late never costs the catalog an edit.

DynamoDB Local's indexes answer consistently at once; AWS's lag behind writes. The one test double in these tests
stands in for that lag at the store's index-query seam, `content.program_children_listed`.
"""

import json

import pytest

from cacheops.build import operations, pending
from cacheops.manifest import snapshot_read
from cacheops.models import Operation, PendingChange
from cms import services
from cms.store import content
from tests.cacheops.conftest import show_create

pytestmark = pytest.mark.django_db


class LaggingIndex:
    """The by_program indexes as AWS may answer after a write: each query gets what one `behind` queries ago got."""

    def __init__(self, behind: int) -> None:
        self.behind = behind
        self.real = content.program_children_listed
        self.answers: dict[str, list] = {}
        self.stale = 0

    def prime(self, program_id: str) -> None:
        """Start the index from what it lists now."""
        self.answers[program_id] = [self.real(program_id)]

    def __call__(self, program_id: str):
        answers = self.answers.setdefault(program_id, [])
        answers.append(self.real(program_id))
        answer = answers[max(0, len(answers) - 1 - self.behind)]
        self.stale += answer != answers[-1]
        return answer


def episode_add(show, number: int, title: str):
    """Save a new published episode in the show's season."""
    return services.episode_create(
        user="eri",
        program_id=show.program.id,
        season_id=show.season.id,
        number=number,
        title=title,
        duration_s=1440,
        status="published",
    )


def published(family: str = "catalog") -> dict:
    return json.loads(snapshot_read(family)[1])


def titles(catalog: dict) -> tuple[list[str], list[str]]:
    """Season and episode titles of the only program in a catalog."""
    [program] = catalog["programs"]
    return [s["title"] for s in program["seasons"]], [e["title"] for s in program["seasons"] for e in s["episodes"]]


def assert_incremental_equals_full() -> None:
    incremental = snapshot_read("catalog")[1]
    full = operations.catalog_rebuild(full=True)
    assert full.result == "unchanged"
    assert snapshot_read("catalog")[1] == incremental


def test_edits_the_index_lists_late_are_waited_for_and_published(dynamodb, redis_engine, settings, monkeypatch):
    show = show_create("薬屋のひとりごと", "kusuriya", ["猫猫", "後宮", "園遊会"])
    first = operations.catalog_rebuild(full=True)
    index = LaggingIndex(behind=2)
    index.prime(show.program.id)
    monkeypatch.setattr(content, "program_children_listed", index)
    settings.CACHEOPS_REBUILD_ON_SAVE = True  # each save builds at once (Celery runs inline here)
    one, two, _three = show.episodes

    services.episode_update(episode_id=one.id, version=one.version, user="eri", title="猫猫の推理")
    services.episode_delete(episode_id=two.id, version=two.version, user="eri")
    episode_add(show, 4, "壬氏")
    services.season_update(season_id=show.season.id, version=show.season.version, user="eri", title="後宮編")

    assert index.stale >= 4  # every build met a listing older than its save
    assert titles(published()) == (["後宮編"], ["猫猫の推理", "園遊会", "壬氏"])
    assert published(f"program:{show.program.id}")["program"] == published()["programs"][0]
    builds = Operation.objects.filter(kind="rebuild", family="catalog", id__gt=first.id)
    assert len(builds) == 4 and all(
        b.detail.startswith("incremental") and "index behind" not in b.detail for b in builds
    )
    assert not PendingChange.objects.exists()
    assert_incremental_equals_full()


def test_an_index_that_never_catches_up_is_corrected_by_the_items_read_by_key(dynamodb, redis_engine, monkeypatch):
    show = show_create("葬送のフリーレン", "frieren", ["冒険の終わり", "別に魔法じゃなくたって…", "蒼月草"])
    operations.catalog_rebuild(full=True)
    index = LaggingIndex(behind=10**9)
    index.prime(show.program.id)
    monkeypatch.setattr(content, "program_children_listed", index)
    first, second, _third = show.episodes
    updated = services.episode_update(episode_id=first.id, version=first.version, user="eri", title="旅立ち")
    services.episode_delete(episode_id=second.id, version=second.version, user="eri")
    added = episode_add(show, 4, "魔法使いの隠し事")
    # What the saves' signal noted (the receiver's work, without the inline build it would queue).
    written = [
        ("episode", updated.id, updated.version, False),
        ("episode", second.id, second.version, True),
        ("episode", added.id, added.version, False),
    ]
    pending.change_record("catalog", show.program.id, written, riders=[f"program:{show.program.id}"])

    build = operations.catalog_rebuild()

    assert build.result == "published" and build.detail.startswith("incremental")
    assert f"index behind the recorded writes (read by key): {show.program.id}" in build.detail
    assert titles(published()) == ([show.season.title], ["旅立ち", "蒼月草", "魔法使いの隠し事"])
    assert published(f"program:{show.program.id}")["program"] == published()["programs"][0]
    assert not PendingChange.objects.exists()
    assert_incremental_equals_full()
