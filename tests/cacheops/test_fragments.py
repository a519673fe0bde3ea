"""A program whose stored content cannot be published never holds back the rest of the catalog."""

import json

import pytest

from cacheops.build import operations
from cacheops.models import Operation
from cms import selectors, services
from tests.cacheops.conftest import body_of, reassemble, show_create

HUGE = 10**40  # DynamoDB stores it (one significant digit); JSON encoders stop at 64 bits


def catalog(view) -> dict[str, list[str]]:
    """Program id -> season and episode titles, as published in the catalog read straight from the cache."""
    programs = json.loads(body_of(*reassemble(view)))["programs"]
    return {
        p["id"]: [t for s in p["seasons"] for t in [s["title"]] + [e["title"] for e in s["episodes"]]] for p in programs
    }


def last_catalog_build() -> Operation:
    return Operation.objects.filter(kind="rebuild", family="catalog").order_by("-id").first()


def season_retitle(show, title: str) -> None:
    """Edit a season through the services: its program is read again by the next build."""
    season = selectors.season_get(show.season.id)
    services.season_update(season_id=season.id, version=season.version, user="eri", title=title)


BAD_FIELDS = {
    "program sort order": ("programs", "sort_order"),
    "episode number": ("episodes", "number"),
}


def bad_item_id(show, table: str) -> str:
    return show.program.id if table == "programs" else show.episodes[0].id


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "field"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_an_edit_of_an_unpublishable_program_keeps_its_last_good_entry_and_the_rest_publishes(
    dynamodb, redis_engine, settings, raw_number, table, field
):
    settings.CACHEOPS_REBUILD_ON_SAVE = True
    bad = show_create("鬼滅の刃", "kimetsu", ["残酷"])
    good = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])
    assert catalog(redis_engine) == {
        bad.program.id: ["鬼滅の刃 第1期", "残酷"],
        good.program.id: ["呪術廻戦 第1期", "両面宿儺"],
    }
    raw_number(table, bad_item_id(bad, table), field, HUGE)

    season_retitle(bad, "立志編")

    build = last_catalog_build()
    assert build.result == "partial"
    assert bad.program.id in build.detail and good.program.id not in build.detail
    assert catalog(redis_engine) == {
        bad.program.id: ["鬼滅の刃 第1期", "残酷"],
        good.program.id: ["呪術廻戦 第1期", "両面宿儺"],
    }

    season_retitle(good, "渋谷事変")

    assert last_catalog_build().result == "published"
    assert catalog(redis_engine) == {
        bad.program.id: ["鬼滅の刃 第1期", "残酷"],
        good.program.id: ["渋谷事変", "両面宿儺"],
    }

    raw_number(table, bad_item_id(bad, table), field, 1 if field == "number" else 0)  # the stored item is repaired
    season_retitle(bad, "遊郭編")

    assert last_catalog_build().result == "published"
    assert catalog(redis_engine) == {bad.program.id: ["遊郭編", "残酷"], good.program.id: ["渋谷事変", "両面宿儺"]}


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "field"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_a_full_rebuild_skips_an_unpublishable_program_and_keeps_its_last_good_entry(
    dynamodb, redis_engine, settings, raw_number, table, field
):
    bad = show_create("鬼滅の刃", "kimetsu", ["残酷"])
    good = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])
    assert operations.catalog_rebuild(requested_by="oki", full=True).result == "published"
    raw_number(table, bad_item_id(bad, table), field, HUGE)
    season_retitle(bad, "立志編")
    season_retitle(good, "渋谷事変")

    build = operations.catalog_rebuild(requested_by="oki", full=True)

    assert (build.result, build.requested_by) == ("partial", "oki")
    assert bad.program.id in build.detail and good.program.id not in build.detail
    assert catalog(redis_engine) == {
        bad.program.id: ["鬼滅の刃 第1期", "残酷"],
        good.program.id: ["渋谷事変", "両面宿儺"],
    }

    settings.CACHEOPS_REBUILD_ON_SAVE = True
    season_retitle(good, "死滅回游")

    assert last_catalog_build().result == "published"
    assert catalog(redis_engine) == {
        bad.program.id: ["鬼滅の刃 第1期", "残酷"],
        good.program.id: ["死滅回游", "両面宿儺"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["published", "draft"])
def test_an_unpublishable_program_never_published_before_is_left_out(dynamodb, redis_engine, raw_number, status):
    bad = show_create("鬼滅の刃", "kimetsu", ["残酷"], status=status)
    good = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])
    raw_number("programs", bad.program.id, "sort_order", HUGE)

    build = operations.catalog_rebuild(requested_by="oki", full=True)

    assert build.result == "partial" and bad.program.id in build.detail
    assert catalog(redis_engine) == {good.program.id: ["呪術廻戦 第1期", "両面宿儺"]}
