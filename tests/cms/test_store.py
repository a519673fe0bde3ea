"""The content store contract, against AWS's DynamoDB Local emptied for each test."""

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from cms import domain, services
from cms.store import cascade
from cms.store import episodes as episode_store
from cms.store import programs as program_store
from cms.store import seasons as season_store
from cms.store.errors import ItemTooLarge, NotFound, NotUnique, StaleVersion
from cms.store.tables import items_dump, items_load, tables_truncate

pytestmark = pytest.mark.usefixtures("dynamodb")

AIRTIME = datetime(2026, 11, 26, 14, 45, tzinfo=UTC)


def program_new(slug: str = "midnight-diner", **fields) -> domain.Program:
    values = {"title": "深夜食堂", "title_kana": "しんやしょくどう", "genre": "drama", "status": domain.PUBLISHED}
    return program_store.program_create(domain.Program(id=services.new_id(), slug=slug, **(values | fields)))


def season_new(program: domain.Program, **fields) -> domain.Season:
    season = domain.Season(id=services.new_id(), program_id=program.id, **({"title": "シーズン1"} | fields))
    return season_store.season_save(season, create=True)


def episode_new(season: domain.Season, number: int = 1, **fields) -> domain.Episode:
    values = {
        "title": f"第{number}話",
        "duration_s": 1440,
        "video_url": f"https://stream.example/{number}.m3u8",
        "status": domain.PUBLISHED,
        "publish_at": AIRTIME,
    }
    episode = domain.Episode(
        id=services.new_id(), program_id=season.program_id, season_id=season.id, number=number, **(values | fields)
    )
    return episode_store.episode_save(episode, old=None)


@dataclass
class Kind:
    """How the suite creates, reads, saves and deletes one kind of content."""

    name: str
    create: Callable[[], object]
    get: Callable[[str], object]
    save: Callable[[object], object]
    delete: Callable[[object], None]


KINDS = [
    Kind(
        "program",
        create=lambda: program_new(),
        get=program_store.program_get,
        save=lambda obj: program_store.program_update(obj, old_slug=obj.slug),
        delete=program_store.program_mark_deleted,
    ),
    Kind(
        "season",
        create=lambda: season_new(program_new()),
        get=season_store.season_get,
        save=lambda obj: season_store.season_save(obj, create=False),
        delete=season_store.season_delete,
    ),
    Kind(
        "episode",
        create=lambda: episode_new(season_new(program_new()), tags=["字幕"], cast=["佐藤健太"]),
        get=episode_store.episode_get,
        save=lambda obj: episode_store.episode_save(obj, old=obj),
        delete=episode_store.episode_delete,
    ),
]


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def kind(request) -> Kind:
    return request.param


def test_create_read_update_delete(kind):
    created = kind.create()
    assert created.version == 1
    assert kind.get(created.id) == created

    saved = kind.save(replace(created, title="改題：新しいタイトル", publish_at=AIRTIME))
    assert saved.version == 2
    read = kind.get(created.id)
    assert (read.title, read.publish_at, read.version) == ("改題：新しいタイトル", AIRTIME, 2)

    kind.delete(read)
    with pytest.raises(NotFound):
        kind.get(created.id)


def test_stale_version_is_refused(kind):
    read = kind.get(kind.create().id)
    kind.save(replace(read, title="first"))

    with pytest.raises(StaleVersion):
        kind.save(replace(read, title="second"))
    with pytest.raises(StaleVersion):
        kind.delete(read)
    assert kind.get(read.id).title == "first"


def test_racing_updates_from_one_read_exactly_one_wins(kind):
    read = kind.get(kind.create().id)
    start = threading.Barrier(2)
    outcomes = {}

    def edit(editor: str) -> None:
        start.wait()
        try:
            kind.save(replace(read, title=editor))
            outcomes[editor] = "saved"
        except StaleVersion:
            outcomes[editor] = "stale"

    threads = [threading.Thread(target=edit, args=(editor,)) for editor in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["saved", "stale"]
    stored = kind.get(read.id)
    winner = next(editor for editor, outcome in outcomes.items() if outcome == "saved")
    assert (stored.title, stored.version) == (winner, read.version + 1)


def test_slug_is_unique_and_freed_by_a_rename():
    first = program_new(slug="midnight-diner")
    with pytest.raises(NotUnique) as refused:
        program_new(slug="midnight-diner", title="別の番組")
    assert refused.value.field == "slug"
    assert [p.id for p, _ in program_store.programs_stream()] == [first.id]

    program_store.program_update(replace(first, slug="shinya-shokudo"), old_slug="midnight-diner")
    second = program_new(slug="midnight-diner", title="別の番組")
    with pytest.raises(NotUnique):
        program_new(slug="shinya-shokudo")
    assert program_store.program_get(second.id).slug == "midnight-diner"


def test_episode_number_is_unique_per_season_and_freed_by_a_move():
    program = program_new()
    season, other_season = season_new(program), season_new(program, title="シーズン2")
    episode = episode_new(season, number=1)
    with pytest.raises(NotUnique) as refused:
        episode_new(season, number=1)
    assert refused.value.field == "number"
    episode_new(other_season, number=1)  # the same number in another season is fine

    episode_store.episode_save(replace(episode, number=2), old=episode)
    episode_new(season, number=1)
    with pytest.raises(NotUnique):
        episode_new(season, number=2)
    assert [e.number for e in episode_store.episodes_of_season(season.id)] == [1, 2]


def test_index_paging_resumes_from_a_position_without_gaps_or_repeats():
    created = [program_new(slug=f"program-{i:03d}", title=f"番組{i:03d}", sort_order=i).id for i in range(120)]

    seen, position, pages = [], None, 0
    while True:
        page = list(islice(program_store.programs_stream(order="sort", start=position), 50))
        seen += [program.id for program, _ in page]
        pages += 1
        position = page[-1][1]
        if position is None or len(page) < 50:
            break

    assert pages == 3
    assert seen == created


def test_an_item_over_400_kb_is_refused_before_anything_is_written(raw_dynamodb):
    season = season_new(program_new())
    before = raw_dynamodb.snapshot()
    with pytest.raises(ItemTooLarge) as refused:
        episode_new(season, number=1, synopsis="あ" * 150_000)  # 450 KB in UTF-8
    assert refused.value.field == "synopsis"
    assert raw_dynamodb.snapshot() == before
    assert episode_new(season, number=1).number == 1  # the number was never claimed


def family(raw_dynamodb, program_id: str) -> tuple[int, int]:
    """Count the stored seasons and episodes of a program, read without the store."""
    tables = raw_dynamodb.snapshot()
    return tuple(sum(item["program_id"] == program_id for item in tables[name]) for name in ("seasons", "episodes"))


def program_with_children(slug: str = "midnight-diner") -> domain.Program:
    program = program_new(slug=slug)
    for title in ("シーズン1", "シーズン2"):
        season = season_new(program, title=title)
        for number in (1, 2, 3):
            episode_new(season, number=number)
    return program


def test_deleted_program_vanishes_at_once_and_purge_removes_everything(raw_dynamodb):
    program = program_with_children()
    program_store.program_mark_deleted(program)

    assert list(program_store.programs_stream()) == []
    with pytest.raises(NotFound):
        program_store.program_get(program.id)
    assert family(raw_dynamodb, program.id) == (2, 6)  # children wait for the purge
    successor = program_new(slug="midnight-diner", title="後継番組")  # the slug is free again

    assert services.program_purge(program_id=program.id) is True
    tables = raw_dynamodb.snapshot()
    assert [item["id"] for item in tables["programs"]] == [successor.id]
    assert (tables["seasons"], tables["episodes"]) == ([], [])
    claims = {item["key"]: item["owner_id"] for item in tables["uniques"]}
    assert claims == {"program-slug#midnight-diner": successor.id}  # episode numbers released


def test_program_delete_service_hides_and_purges(raw_dynamodb):
    program = program_with_children()
    services.program_delete(program_id=program.id, version=program.version, user="editor")
    assert raw_dynamodb.counts() == {"programs": 0, "seasons": 0, "episodes": 0, "uniques": 0}


def test_sweep_finishes_a_purge_whose_worker_died(raw_dynamodb):
    program = program_with_children()
    kept = program_with_children(slug="kept")
    program_store.program_mark_deleted(program)  # marked, but no purge was ever queued

    assert services.deleted_programs_sweep() == 1
    assert family(raw_dynamodb, program.id) == (0, 0)
    assert [item["id"] for item in raw_dynamodb.snapshot()["programs"]] == [kept.id]
    assert family(raw_dynamodb, kept.id) == (2, 6)
    assert services.deleted_programs_sweep() == 0


def test_child_counters_follow_every_create_move_and_delete(raw_dynamodb):
    program = program_with_children()
    first, second = season_store.seasons_of_program(program.id)
    counted = {f"program#{program.id}": 8, f"season#{first.id}": 3, f"season#{second.id}": 3}
    assert raw_dynamodb.counters() == raw_dynamodb.children() == counted
    episode = episode_store.episodes_of_season(first.id)[0]
    episode_store.episode_save(replace(episode, season_id=second.id, number=9), old=episode)
    assert raw_dynamodb.counters()[f"season#{second.id}"] == 4

    for moved in episode_store.episodes_of_season(first.id):
        episode_store.episode_delete(moved)
    season_store.season_delete(season_store.season_get(first.id))
    assert raw_dynamodb.counters() == raw_dynamodb.children() == {f"program#{program.id}": 5, f"season#{second.id}": 4}
    with pytest.raises(season_store.SeasonNotEmpty):
        season_store.season_delete(season_store.season_get(second.id))


def test_a_season_deleted_while_an_episode_is_added_leaves_no_orphan(raw_dynamodb, monkeypatch):
    season = season_new(program_new())
    checked, resume = threading.Event(), threading.Event()
    outcome = {}

    def pause(_season) -> None:
        checked.set()
        resume.wait(timeout=10)

    def delete() -> None:
        try:
            season_store.season_delete(season)
            outcome["delete"] = "deleted"
        except season_store.SeasonNotEmpty:
            outcome["delete"] = "refused"

    monkeypatch.setattr(season_store, "season_delete_checked", pause)
    deleting = threading.Thread(target=delete)
    deleting.start()
    assert checked.wait(timeout=10)  # the delete found the season empty and is about to write
    episode = episode_new(season)
    resume.set()
    deleting.join(timeout=10)

    assert outcome == {"delete": "refused"}
    tables = raw_dynamodb.snapshot()
    assert [item["id"] for item in tables["seasons"]] == [season.id]
    assert [(item["id"], item["season_id"]) for item in tables["episodes"]] == [(episode.id, season.id)]
    assert raw_dynamodb.counters() == raw_dynamodb.children()


def test_an_episode_added_to_a_season_deleted_since_it_was_read_is_refused(raw_dynamodb):
    season = season_new(program_new())
    season_store.season_delete(season)

    with pytest.raises(NotFound):
        episode_new(season)
    assert raw_dynamodb.snapshot()["episodes"] == []
    assert raw_dynamodb.counters() == raw_dynamodb.children() == {}


def test_a_child_missing_from_a_lagging_index_keeps_the_program_until_a_sweep_finds_it(raw_dynamodb, monkeypatch):
    program = program_with_children()
    latest = episode_new(season_store.seasons_of_program(program.id)[0], number=4)
    listed = cascade.children_listed

    def lagging(program_id: str) -> tuple[list[str], list[str]]:
        seasons, episodes = listed(program_id)
        return seasons, [episode_id for episode_id in episodes if episode_id != latest.id]

    monkeypatch.setattr(cascade, "children_listed", lagging)
    program_store.program_mark_deleted(program)

    assert services.program_purge(program_id=program.id) is False
    assert services.deleted_programs_sweep() == 1  # the index still lags: nothing more can go
    tables = raw_dynamodb.snapshot()
    assert [(item["id"], "deleted_at" in item) for item in tables["programs"]] == [(program.id, True)]
    assert [item["id"] for item in tables["seasons"]] == [latest.season_id]
    assert [item["id"] for item in tables["episodes"]] == [latest.id]
    assert raw_dynamodb.counters() == raw_dynamodb.children()

    monkeypatch.setattr(cascade, "children_listed", listed)  # the index caught up
    assert services.deleted_programs_sweep() == 1
    assert raw_dynamodb.counts() == {"programs": 0, "seasons": 0, "episodes": 0, "uniques": 0}
    assert raw_dynamodb.counters() == {}
    assert services.deleted_programs_sweep() == 0


def test_dump_and_load_round_trip_exactly(raw_dynamodb):
    program = program_with_children()
    episode = episode_store.episodes_of_program(program.id)[0]
    episode = episode_store.episode_save(
        replace(episode, tags=["字幕", "4K"], cast=["佐藤健太"], expire_at=AIRTIME + timedelta(days=7)), old=episode
    )
    first = io.StringIO()
    assert items_dump(first) == 1 + 2 + 6 + 1 + 6  # program, seasons, episodes, slug and numbers

    tables_truncate()
    assert set(raw_dynamodb.counts().values()) == {0}
    assert items_load(io.StringIO(first.getvalue())) == 16
    second = io.StringIO()
    items_dump(second)

    assert second.getvalue() == first.getvalue()
    raw = raw_dynamodb.get("episodes", episode.id)
    assert (raw["tags"], raw["cast"], raw["title"]) == (["字幕", "4K"], ["佐藤健太"], episode.title)
    assert (raw["version"], raw["expire_at"]) == (2, "2026-12-03T14:45:00Z")
    assert episode_store.episode_get(episode.id) == episode
