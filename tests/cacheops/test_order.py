"""Publication order is decided on each family's SQL row: a build that read older content never wins."""

import json
import os
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from cacheops.backends import backend_get
from cacheops.build import operations
from cacheops.models import Family, Operation
from cacheops.release import families, releases
from cacheops.release.families import families_read
from cms import services
from tests.cacheops.conftest import body_of, reassemble, show_create

AS_OF = datetime(2026, 11, 26, 14, 45, tzinfo=UTC)


def catalog(label: str) -> bytes:
    items = [{"id": os.urandom(8).hex(), "title": f"{label} 第{n}話"} for n in range(50)]
    return json.dumps({"programs": items}, ensure_ascii=False, separators=(",", ":")).encode()


def publish(body: bytes, generation: int) -> releases.Published:
    return operations.version_publish("catalog", body, as_of=AS_OF, generation=generation, next_boundary=None)


def current(engine) -> tuple[str, bytes]:
    """The current version and body of the catalog, read straight from the cache."""
    manifest, stream = reassemble(engine)
    return manifest["version"], body_of(manifest, stream)


@pytest.mark.django_db
def test_a_build_that_started_earlier_and_finishes_last_writes_nothing(engine):
    body_a, body_b = catalog("A"), catalog("B")
    generation_a = families.generation_take("catalog")
    generation_b = families.generation_take("catalog")

    published = publish(body_b, generation_b)
    late = publish(body_a, generation_a)

    assert (published.outcome, late.outcome) == ("published", "superseded")
    assert late.version == published.version
    assert current(engine) == (published.version, body_b)
    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.published_generation) == (published.version, generation_b)
    assert families_read() == ["catalog"]


@pytest.mark.django_db
def test_a_later_build_that_found_its_content_current_still_outranks_an_earlier_one(engine):
    body_0, body_1 = catalog("0"), catalog("1")
    first = publish(body_0, families.generation_take("catalog"))
    generation_a = families.generation_take("catalog")  # reads an edit that is reverted at once
    generation_b = families.generation_take("catalog")  # reads the reverted content

    unchanged = publish(body_0, generation_b)
    late = publish(body_1, generation_a)

    assert (unchanged.outcome, late.outcome) == ("unchanged", "superseded")
    assert current(engine) == (first.version, body_0)
    assert Family.objects.get(name="catalog").published_generation == generation_b


@pytest.mark.django_db
def test_a_rebuild_whose_lock_expired_while_it_read_loses_to_the_build_that_took_over(dynamodb, redis_engine):
    show = show_create("鬼滅の刃", "kimetsu", ["残酷"])
    lock = f"{redis_engine.prefix}:catalog:lock"
    taken_over = []

    def slow_reader(stage: str, done: int, total: int) -> None:
        # The first build has read its content; its lock runs out and a second build reads the edit.
        if stage == "assemble" and not taken_over:
            redis_engine.delete(lock)
            services.episode_create(
                user="eri", program_id=show.program.id, season_id=show.season.id, number=2, title="育手",
                duration_s=1440, status="published",
            )  # fmt: skip
            taken_over.append(operations.catalog_rebuild(requested_by="oki", full=True))

    first = operations.catalog_rebuild(requested_by="oki", full=True, progress=slow_reader)

    [second] = taken_over
    assert (second.result, first.result) == ("published", "superseded")
    assert first.version_after == second.version_after
    version, body = current(redis_engine)
    assert version == second.version_after and "育手" in body.decode()
    assert Family.objects.get(name="catalog").current_version == version
    logged = Operation.objects.filter(kind="rebuild", family="catalog").order_by("id").values_list("result", flat=True)
    assert list(logged) == ["superseded", "published"]


@pytest.mark.django_db(transaction=True)
def test_two_swaps_take_turns_on_the_family_row(engine, monkeypatch):
    body_a, body_b = catalog("A"), catalog("B")
    generation_a = families.generation_take("catalog")
    generation_b = families.generation_take("catalog")
    backend = backend_get()
    a_swapping, a_go, b_done = threading.Event(), threading.Event(), threading.Event()
    set_ = backend.set
    outcomes = {}

    def set_paused(key: str, value: bytes, ttl_s: float) -> None:
        # The older build stops halfway through its manifest write, holding the row.
        if threading.current_thread().name == "A" and key.endswith(":manifest"):
            a_swapping.set()
            assert a_go.wait(10)
        set_(key, value, ttl_s)

    monkeypatch.setattr(backend, "set", set_paused)

    def build(name: str, body: bytes, generation: int, done: threading.Event | None) -> None:
        try:
            outcomes[name] = publish(body, generation).outcome
        finally:
            connection.close()
            if done:
                done.set()

    a = threading.Thread(target=build, args=("A", body_a, generation_a, None), name="A")
    b = threading.Thread(target=build, args=("B", body_b, generation_b, b_done), name="B")
    a.start()
    assert a_swapping.wait(10)
    b.start()
    assert not b_done.wait(0.5)  # the newer build waits for the row instead of writing around it
    a_go.set()
    a.join(10)
    b.join(10)

    assert outcomes == {"A": "published", "B": "published"}
    version, body = current(engine)
    assert body == body_b
    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.previous_version, row.published_generation) == (
        version,
        reassemble(engine)[0]["previous_version"],
        generation_b,
    )
