"""The release state under random sequences of what editors, the beat, ops, the cache and readers do.

After every step, on both backends: each reader serves what the SQL release state and the clock say (or nothing,
if it never held that version), never a purged version, no episode outside its window unless a pin or a held-back
rebuild says so, a pinned version until resume, and no manifest that outlives a chunk it names.
"""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from cacheops import chunks, clock
from cacheops.build import operations
from cacheops.errors import PublishError
from cacheops.models import (
    AirtimeSchedule,
    BuildRequest,
    ConsoleTask,
    Family,
    Operation,
    PendingChange,
    ProgramSource,
    Release,
)
from cacheops.read.reader import Reader, readers_stop
from cacheops.release import boundaries, release_actions
from cms import services
from cms.store.tables import tables_truncate
from tests.cacheops.conftest import show_create

CATALOG = operations.CATALOG
START = datetime(2026, 12, 24, 14, 0, tzinfo=UTC)


class Clock:
    """Real time shifted by what the machine's clock jumps added (the cache's TTLs count real seconds)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def start(self) -> None:
        self.offset = START - datetime.now(UTC)

    def jump(self, by: timedelta) -> None:
        self.offset += by


def _reset(view) -> None:
    tables_truncate()
    for model in (Release, Family, Operation, PendingChange, BuildRequest, ProgramSource, AirtimeSchedule, ConsoleTask):
        model.objects.all().delete()
    for name in view.keys():
        view.delete(name)


def machine_for(view, now: Clock):
    class Releases(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            readers_stop()
            _reset(view)
            now.start()
            self.show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
            self.windows: dict[str, tuple[datetime | None, datetime | None]] = {
                e.id: (None, None) for e in self.show.episodes
            }
            operations.catalog_rebuild(requested_by="test", full=True)
            # Driven by the machine alone: a polling thread asking for a build would race the machine's own.
            self.readers = [Reader(CATALOG, polling=False), Reader(CATALOG, polling=False)]
            self.pinned: str | None = None

        def teardown(self) -> None:
            for reader in self.readers:
                reader.stop()

        # -- editors, builds and the beat --

        @rule(minutes=st.integers(1, 15), kind=st.sampled_from(["publish_at", "expire_at", None]), built=st.booleans())
        def edit(self, minutes, kind, built):
            instant = now().replace(microsecond=0) + timedelta(minutes=minutes)
            window = {kind: instant} if kind else {}
            episode = services.episode_create(
                user="eri", program_id=self.show.program.id, season_id=self.show.season.id,
                number=len(self.windows) + 1, title=f"第{len(self.windows) + 1}話", duration_s=1440,
                status="published", **window,
            )  # fmt: skip
            self.windows[episode.id] = (window.get("publish_at"), window.get("expire_at"))
            if built:  # the save's own build, as the worker runs it
                operations.catalog_rebuild(requested_by="test", full=True)

        @rule()
        def build(self):
            operations.catalog_rebuild(requested_by="test", full=True)

        @rule()
        def tick(self):
            boundaries.airtime_due()

        @rule(minutes=st.integers(1, 30))
        def clock_jump(self, minutes):
            now.jump(timedelta(minutes=minutes))
            for _ in range(6):  # the beat ticks every few seconds: it has caught up before anyone looks again
                if boundaries.airtime_due() in ("idle", "staged", "unstaged", "pinned"):
                    break

        @rule()
        def ttl_refresh(self):
            operations.ttl_refresh_due()
            try:
                operations.prewarm(requested_by="test")
            except PublishError:
                pass  # a current version the cache lost while a rebuild is held back: the operation says so

        @rule()
        def cache_restart(self):
            for name in view.keys():
                view.delete(name)

        # -- ops --

        @rule()
        def rollback(self):
            try:
                op = release_actions.rollback(family=CATALOG, requested_by="ops")
            except PublishError:
                return
            self.pinned = op.version_after

        @precondition(lambda self: self.pinned is not None)
        @rule()
        def resume(self):
            release_actions.resume(family=CATALOG, requested_by="ops")
            self.pinned = None

        @rule()
        def purge(self):
            try:
                release_actions.purge(family=CATALOG, requested_by="ops")
            except PublishError:
                return
            if self.pinned is not None:  # the pin holds, on what is current after the purge
                self.pinned = Family.objects.get(name=CATALOG).current_version

        # -- what readers serve --

        @invariant()
        def readers_follow_the_release_state(self):
            for _ in range(2):  # a reader that finds no manifest asks for a build, which runs inline here
                for reader in self.readers:
                    reader.poll()
            row = Family.objects.filter(name=CATALOG).first()
            if row is None:
                return
            purged = set(
                Release.objects.filter(family=CATALOG, purged_at__isnull=False).values_list("version", flat=True)
            )
            staged_due = row.staged_version and row.staged_at <= now() and row.pinned_at is None
            expected = row.staged_version if staged_due else row.current_version
            if self.pinned is not None:
                assert row.current_version == self.pinned and row.pinned_at is not None
            for reader in self.readers:
                held = reader.version_get(expected) or reader.current()
                if held is None:
                    continue
                assert held.version not in purged
                assert held.version == expected, (held.version, expected, row.current_version, row.staged_version)
                if row.pinned_at is None and not row.held_back:
                    self._in_window(held)

        def _in_window(self, held):
            body = chunks.decompress(held.stream, held.manifest["codec"])
            for program in orjson.loads(body)["programs"]:
                for season in program["seasons"]:
                    for episode in season["episodes"]:
                        publish_at, expire_at = self.windows.get(episode["id"], (None, None))
                        at = now()
                        assert publish_at is None or publish_at <= at, (episode["title"], "before publish_at")
                        assert expire_at is None or at < expire_at, (episode["title"], "after expire_at")

        @invariant()
        def no_manifest_outlives_its_chunks(self):
            raw = view.get(f"{view.prefix}:catalog:manifest")
            if raw is None:
                return
            manifest = orjson.loads(raw)
            named = manifest["chunks"] + ((manifest.get("staged") or {}).get("chunks") or [])
            lefts = [view.ttl_left(entry["key"]) for entry in named]
            assert all(left is not None and left > 0 for left in lefts), "a chunk the manifest names is gone"
            assert view.ttl_left(f"{view.prefix}:catalog:manifest") <= min(lefts) + 1

    return Releases


@pytest.mark.django_db(transaction=True)
def test_the_release_state_machine(engine, settings_of_django, dynamodb, monkeypatch):
    now = Clock()
    monkeypatch.setattr(clock, "now", now)
    settings_of_django.CACHEOPS_READER_POLL_SECONDS = 3600  # the machine polls after every step
    settings_of_django.CACHEOPS_READER_SUBSCRIBE = False  # nor do announcements
    machine = machine_for(engine, now)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.fixture
def settings_of_django(settings):
    return settings
