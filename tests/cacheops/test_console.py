"""The read-only ops console: who sees it, what it shows from SQL, what it asks the cache, what it survives."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.db import connection
from django.template.defaultfilters import filesizeformat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from ulid import ULID

from cacheops.backends import backend_reset
from cacheops.build import operations
from cacheops.console import summaries
from cacheops.models import AirtimeSchedule, Family, Operation, TrafficMinute
from cms import domain, program_index
from cms.broadcast import jst_utc_format
from cms.models import ProgramEntry
from cms.store.local import free_port
from tests.cacheops.conftest import show_create, staff_client
from tests.cms.test_csp import refused_by_policy

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/cacheops/"
OPERATIONS = "/admin/cacheops/operations/"
GROUPS = ("Editors", "Viewers", "Ops")
EN = {"accept-language": "en"}


@pytest.fixture(autouse=True)
def language_restored():
    """LocaleMiddleware activates each request's language in this thread: put the default back."""
    with translation.override(django_settings.LANGUAGE_CODE):
        yield


def family_url(name: str) -> str:
    return f"/admin/cacheops/family/{name}/"


class _Rows(HTMLParser):
    """The cell texts of every <tr> carrying a class or a data-fact, keyed by each class and by "fact:<name>"; a
    row's data-family is kept as its `family`."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[list[str]]] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        keys = (attrs.get("class") or "").split() + ([f"fact:{attrs['data-fact']}"] if "data-fact" in attrs else [])
        if tag == "tr" and keys:
            self._row = _Row()
            self._row.family = attrs.get("data-family")
            for name in keys:
                self.rows.setdefault(name, []).append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


class _Row(list):
    family: str | None = None


def rows(response, css_class: str) -> list[list[str]]:
    """The cell texts of the table rows of class `css_class`."""
    parser = _Rows()
    parser.feed(response.content.decode())
    return parser.rows.get(css_class, [])


COLUMNS = ("program", "version", "state", "ttl", "hits_5m", "last_build")


def family_rows(response) -> dict[str, dict[str, str]]:
    """The overview's program family rows by family name, each cell by its column."""
    return {cells.family: dict(zip(COLUMNS, cells, strict=True)) for cells in rows(response, "family-row")}


def catalog_facts(response) -> dict[str, str]:
    """The catalog card's facts by name (state, current, staged, ttl, hits, …), as text."""
    parser = _Rows()
    parser.feed(response.content.decode().split('id="catalog-card"', 1)[1].split("</section>", 1)[0])
    return {key.removeprefix("fact:"): cells[1] for key, [cells] in parser.rows.items() if key.startswith("fact:")}


def program_family(program_id: str | None = None) -> str:
    return f"program:{program_id or ULID()}"


def family_create(
    name: str, *, version: str = "0123456789abcdef", stale: bool = False, row: dict | None = None, **manifest
) -> Family:
    """A family row as a publish leaves it (with `row`'s fields), with a manifest copy (no cache involved)."""
    now = datetime.now(UTC).replace(microsecond=0)
    copy = {
        "name": name,
        "version": version,
        "codec": "gzip",
        "raw_bytes": 2048,
        "compressed_bytes": 1024,
        "sha256": "0" * 64,
        "chunks": [{"index": 0, "key": f"p:{name}:chunk:abc:0", "bytes": 1024, "sha256": "1" * 64}],
        "as_of": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "built_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "next_boundary": None,
        "previous_version": None,
        "staged": None,
        "stale": stale,
    } | manifest
    fields = {"current_version": version, "latest_version": version, "stale": stale, "published_generation": 1}
    return Family.objects.create(name=name, manifest=copy if version else None, **(fields | (row or {})))


def programs_listed(*titles: tuple[str, str]) -> list[str]:
    """Rows of the program list for (title, kana) pairs, written straight into SQL; their family names."""
    programs = [domain.Program(id=str(ULID()), slug="", title=t, title_kana=k, version=1) for t, k in titles]
    ProgramEntry.objects.bulk_create([program_index.entry_for(program) for program in programs])
    return [program_family(program.id) for program in programs]


def minute_ago(minutes: int) -> datetime:
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes)


@pytest.fixture
def published(redis_engine, dynamodb):
    """Two shows published for real: the catalog and two program families, in Redis."""
    shows = [
        show_create("葬送のフリーレン", "frieren", ("旅立ち", "魔法使い"), title_kana="そうそうのフリーレン"),
        show_create("薬屋のひとりごと", "kusuriya", title_kana="くすりやのひとりごと"),
    ]
    build = operations.catalog_rebuild(requested_by="test", full=True)
    assert build.result == "published"
    return build, shows


@pytest.fixture
def mid_minute(monkeypatch):
    """Hold the clock in the middle of the current minute, so that no window moves while a test looks."""
    held = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: held)
    return held


@pytest.fixture
def viewer(client):
    return staff_client(client, "Viewers")


@pytest.fixture
def cache_unreachable(settings):
    """The shared cache points at a port nobody listens on."""
    settings.CACHEOPS_BACKEND = "redis"
    settings.CACHEOPS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    backend_reset()
    yield
    backend_reset()


# Who may see it


@pytest.mark.parametrize("url", [OVERVIEW, family_url("catalog"), OPERATIONS])
def test_anonymous_is_sent_to_the_admin_login(client, url):
    response = client.get(url)

    assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={url}")


def test_a_user_who_is_not_staff_is_sent_to_the_login_and_staff_without_a_group_is_refused(client):
    client.force_login(User.objects.create_user("kai"))
    assert client.get(OVERVIEW).status_code == 302

    client.force_login(User.objects.create_user("sho", is_staff=True))
    assert client.get(OVERVIEW).status_code == 403
    assert client.get(OPERATIONS).status_code == 403
    assert 'id="cacheops-console-link"' not in client.get("/admin/").content.decode()


@pytest.mark.parametrize("group", GROUPS)
def test_each_staff_group_sees_the_catalog_card_and_the_index_links_to_the_console(client, published, group):
    build, shows = published
    staff_client(client, group)

    response = client.get(OVERVIEW, headers=EN)

    assert response.status_code == 200
    card = catalog_facts(response)
    assert card["state"].startswith("fresh") and card["current"].startswith(build.version_after)
    assert re.search(r"built .*, 0:00:\d\d ago", card["current"])
    assert card["staged"] == "—"
    assert re.fullmatch(r"23:\d\d:\d\d|1 d 00:00:00", card["ttl"])
    assert card["last-build"].split()[-3:] == ["published", "Builds", "›"]
    found = family_rows(response)
    # Both programs' families, in their titles' reading order (くすりや before そうそう), by title, reading and id.
    frieren, kusuriya = (show.program for show in shows)
    assert list(found) == [f"program:{kusuriya.id}", f"program:{frieren.id}"]
    assert found[f"program:{frieren.id}"]["program"] == f"葬送のフリーレン {frieren.title_kana} {frieren.id}"
    assert re.fullmatch(r"[0-9a-f]{16}", found[f"program:{frieren.id}"]["version"])
    assert found[f"program:{frieren.id}"]["state"] == "fresh"
    assert found[f"program:{frieren.id}"]["last_build"].endswith(" published")
    assert 'class="state-badge state-fresh"' in response.content.decode()
    index = client.get("/admin/").content.decode()
    assert 'id="cacheops-console-link"' in index and f'href="{OVERVIEW}"' in index and f'href="{OPERATIONS}"' in index
    # The app list is still there below it, as the admin renders it.
    assert all(f'href="/admin/cms/{model}/"' in index for model in ("program", "season", "episode"))
    assert ('href="/admin/cms/program/add/"' in index) == (group == "Editors")


def test_superusers_see_it_too(client, published):
    client.force_login(User.objects.create_superuser("root", password="secret-pass-123"))

    assert catalog_facts(client.get(OVERVIEW))["current"]


# The overview


def test_program_rows_are_searchable_and_paged_under_the_catalog(viewer):
    family_create("catalog")
    names = sorted(program_family() for _ in range(120))
    for name in names:
        family_create(name)

    first, third = viewer.get(OVERVIEW), viewer.get(OVERVIEW, {"page": 3})
    found = viewer.get(OVERVIEW, {"q": names[77][-10:].lower()})

    # No program is in the program list: every family says its program is gone, and they come by name.
    assert list(family_rows(first)) == names[:50]
    assert list(family_rows(third)) == names[100:]
    assert list(family_rows(found)) == [names[77]]
    assert all(catalog_facts(page)["current"] for page in (first, third, found))  # the catalog's card on every page
    assert "page=2" in first.content.decode()
    assert list(family_rows(viewer.get(OVERVIEW, {"page": 10**9}))) == names[100:]


def test_the_overview_reads_sql_only_and_renders_with_the_cache_unreachable(published, cache_unreachable, viewer):
    build, _shows = published

    response = viewer.get(OVERVIEW)

    assert response.status_code == 200
    assert catalog_facts(response)["current"].startswith(build.version_after)


def test_the_overview_costs_the_same_queries_for_few_or_many_families(viewer):
    family_create("catalog")
    for _ in range(3):
        family_create(program_family())
    viewer.get(OVERVIEW)  # the session and the user are read once per request either way
    with CaptureQueriesContext(connection) as few:
        viewer.get(OVERVIEW)
    for _ in range(60):
        name = family_create(program_family()).name
        TrafficMinute.objects.create(family=name, minute=minute_ago(2), requests=5)
        Operation.objects.create(kind="rebuild", family=name, result="failed")
    with CaptureQueriesContext(connection) as many:
        viewer.get(OVERVIEW)

    assert len(many) == len(few) <= 17  # the workers, the next airtimes and the catalog's running task: one each


def test_hit_rates_request_rates_and_the_cluster_load_come_from_the_per_minute_rows(viewer, settings, mid_minute):
    settings.CACHEOPS_SHARED_CACHE_QUOTA = 100
    family_create("catalog")
    idle = family_create(program_family()).name
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(2), requests=600, l1_hits=540, cache_ops=3000)
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(1), requests=300, l1_hits=300, cache_ops=6000)
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(30), requests=100, l1_hits=0)
    # The current minute is still being counted: it waits for the next one.
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(0), requests=10**6, cache_ops=10**6)

    response = viewer.get(OVERVIEW, headers=EN)

    card = catalog_facts(response)
    # 840/900 in 5 min, 840/1000 in the hour, 900 per 300 s
    assert (card["hits"], card["requests"]) == ("93.3% over 5 minutes, 84.0% over 1 hour", "3.0")
    assert family_rows(response)[idle]["hits_5m"] == "—"
    page = response.content.decode()
    load = re.search(
        r'data-fact="shared-cache" class="cluster-load load-(\w+)" id="cluster-load">(.*?)</tr>', page, re.S
    )
    assert load[1] == "over"  # 100 operations/s in the last minute: the whole quota
    assert "100.0" in load[2] and "30.0" in load[2] and "100" in load[2]


def test_states_missing_pinned_held_building_error_stale_and_fresh(viewer):
    now = timezone.now()
    missing, pinned, held, building, failed, stale, fresh, recovered = (program_family() for _ in range(8))
    family_create(missing, version="")
    # A pin or a held-back version decides what is served, whatever a build is doing meanwhile.
    family_create(pinned, row={"pinned_at": now, "pinned_by": "oki", "held_back": {"version": "fedcba9876543210"}})
    family_create(held, row={"held_back": {"version": "fedcba9876543210"}})
    for name in (building, failed, stale, fresh, recovered):
        family_create(name, stale=name == stale)
    for name in (pinned, held):
        Operation.objects.create(kind="rebuild", family=name, result="", heartbeat_at=now)
    Operation.objects.create(kind="rebuild", family=building, result="", heartbeat_at=now)
    Operation.objects.create(kind="rebuild", family=failed, result="published", heartbeat_at=now)
    Operation.objects.create(kind="rebuild", family=failed, result="failed", heartbeat_at=now)
    Operation.objects.create(kind="rebuild", family=recovered, result="abandoned", heartbeat_at=now)
    Operation.objects.create(kind="rebuild", family=recovered, result="published", heartbeat_at=now)
    # Silent for longer than the build time limit: a dead worker's row, not a running build.
    Operation.objects.create(kind="rebuild", family=fresh, result="", heartbeat_at=now - timedelta(hours=1))

    page = viewer.get(OVERVIEW).content.decode()

    def state(name: str) -> str:
        return re.search(rf'data-family="{name}">.*?<span class="state-badge state-(\w+)"', page, re.S)[1]

    assert [state(n) for n in (missing, pinned, held, building, failed, stale, fresh, recovered)] == [
        "missing", "pinned", "held", "building", "error", "stale", "fresh", "fresh",
    ]  # fmt: skip


def test_the_staged_version_and_its_instant_come_from_the_row(viewer):
    at = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)  # 2026-12-25 01:00 JST, broadcast day 24th at 25:00
    # The manifest stages nothing (as while a pin holds): the row is what the console reads.
    family_create("catalog", row={"staged_version": "fedcba9876543210", "staged_at": at})

    response = viewer.get(OVERVIEW, headers=EN)

    staged = "fedcba9876543210 at 2026-12-25 01:00:00 JST (2026-12-24 25:00:00) 2026-12-24 16:00:00 UTC"
    assert catalog_facts(response)["staged"].startswith(staged)


def test_program_families_are_named_by_title_with_reading_and_id_in_reading_order(viewer):
    tabibito, kusuriya = programs_listed(
        ("旅人の記録", "タビビトノキロク"), ("薬屋のひとりごと", "くすりやのひとりごと")
    )
    gone = program_family()
    for name in (tabibito, kusuriya, gone):
        family_create(name)

    response = viewer.get(OVERVIEW, headers=EN)

    found = family_rows(response)
    assert list(found) == [kusuriya, tabibito, gone]  # くすりや, たびびと, then a program no longer listed
    assert found[tabibito]["program"] == f"旅人の記録 タビビトノキロク {tabibito.removeprefix('program:')}"
    assert found[gone]["program"] == f"program deleted {gone.removeprefix('program:')}"
    with translation.override("ja"):
        assert "削除された番組" in viewer.get(OVERVIEW).content.decode()
    page = viewer.get(family_url(tabibito), headers=EN).content.decode()
    assert "<h1>旅人の記録</h1>" in page
    assert re.search(r'id="family-program">.*タビビトノキロク.*' + tabibito.removeprefix("program:"), page)


@pytest.mark.parametrize(
    "term",
    ["旅人", "の記録", "たびびと", "タビビト", "ﾀﾋﾞﾋﾞﾄ", "ＴＡＢＩ", "tabi", "たひひ", "たびびとのき"],
)
def test_the_search_finds_titles_and_readings_as_the_admins_program_search_does(viewer, term):
    tabibito, _other, _roman = programs_listed(
        ("旅人の記録", "たびびとのきろく"), ("薬屋のひとりごと", "くすりやのひとりごと"), ("TABI 旅行記", "たびこうき")
    )
    families = [family_create(name).name for name in (tabibito, _other, _roman)]

    found = list(family_rows(viewer.get(OVERVIEW, {"q": term})))

    admin = [pid for pid, _title in program_index.choices_search(term, 1)[0]]
    assert found == [program_family(pid) for pid in admin if program_family(pid) in families]
    assert (tabibito in found) == (term not in ("ＴＡＢＩ", "tabi"))


def test_the_search_still_finds_a_family_by_its_id(viewer):
    [listed] = programs_listed(("旅人の記録", "たびびとのきろく"))
    family_create(listed)
    gone = family_create(program_family()).name

    assert list(family_rows(viewer.get(OVERVIEW, {"q": gone[-12:].lower()}))) == [gone]
    assert list(family_rows(viewer.get(OVERVIEW, {"q": "記録"}))) == [listed]
    assert list(family_rows(viewer.get(OVERVIEW, {"q": "見つからない"}))) == []


def test_the_catalog_card_says_whether_tonight_is_ready(viewer, settings, mid_minute):
    settings.CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB = 1024
    at = timezone.now() + timedelta(hours=3)
    family_create(
        "catalog",
        row={"staged_version": "fedcba9876543210", "staged_at": at, "pinned_at": timezone.now(), "pinned_by": "oki",
             "pin_reason": "差し替え確認中"},
    )  # fmt: skip
    Operation.objects.create(kind="rebuild", family="catalog", result="published")
    Operation.objects.create(kind="rebuild", family="catalog", result="failed")
    # 60 MiB read in the last minute: 1 MiB/s, the whole throughput.
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(1), cache_ops=60, cache_bytes=60 * 1024 * 1024)
    soon, later, past = (timezone.now() + timedelta(hours=h) for h in (1, 2, -1))
    for when in (later, soon):
        AirtimeSchedule.objects.create(at=when, created_by="oki")
    AirtimeSchedule.objects.create(at=past, created_by="oki", result=AirtimeSchedule.DONE)

    response = viewer.get(OVERVIEW, headers=EN)

    card = catalog_facts(response)
    assert card["state"].startswith("pinned")
    assert card["staged"].startswith("fedcba9876543210 at ") and card["staged"].endswith("(3:00:00)")
    pinned_at = jst_utc_format(Family.objects.get(name="catalog").pinned_at).replace(" / ", " ")
    assert card["pin"] == f"Pinned by oki at {pinned_at}. 差し替え確認中"
    assert card["last-build"].split()[-3:] == ["failed", "Builds", "›"]
    with translation.override("en"):
        mib = " ".join(filesizeformat(1024 * 1024).split())
    assert (
        f"{mib}/s read in the last minute" in card["shared-cache"] and f"(throughput {mib}/s)" in card["shared-cache"]
    )
    assert re.search(r'data-fact="shared-cache" class="cluster-load load-over"', response.content.decode())
    airtimes = rows(response, "next-airtime")
    assert [cells[1] for cells in airtimes] == ["1:00:00", "2:00:00"]  # pending only, soonest first


# One family


def test_the_family_page_lists_chunks_with_the_caches_ttls_and_the_manifest(published, viewer, settings):
    build, _shows = published
    manifest = Family.objects.get(name="catalog").manifest

    response = viewer.get(family_url("catalog"), headers=EN)

    assert response.status_code == 200
    chunks = rows(response, "chunk-row")
    assert [c[:4] for c in chunks] == [
        [str(e["index"]), e["key"], str(e["bytes"]), e["sha256"]] for e in manifest["chunks"]
    ]
    for cells in chunks:
        days, _d, clock = cells[4].rpartition(" d ") if " d " in cells[4] else ("0", "", cells[4])
        hours, minutes, seconds = map(int, clock.split(":"))
        hours += int(days) * 24
        assert (
            settings.CACHEOPS_TTL_SECONDS - 60 < hours * 3600 + minutes * 60 + seconds <= settings.CACHEOPS_TTL_SECONDS
        )
    assert rows(response, "ttl-source-cache") == chunks
    page = response.content.decode()
    assert f"&quot;version&quot;: &quot;{build.version_after}&quot;" in page
    assert f"&quot;sha256&quot;: &quot;{manifest['sha256']}&quot;" in page
    assert ["test", "rebuild", "catalog", "published"] in [
        [c[1], c[2], c[3], c[5]] for c in rows(response, "operation-row")
    ]


def test_an_evicted_chunk_is_shown_gone(published, redis_engine, viewer):
    manifest = Family.objects.get(name="catalog").manifest
    redis_engine.delete(manifest["chunks"][0]["key"])

    response = viewer.get(family_url("catalog"))

    assert len(rows(response, "ttl-source-gone")) == 1
    assert len(rows(response, "ttl-source-cache")) == len(manifest["chunks"]) - 1


def test_chunk_ttls_are_the_caches_own_count_where_it_keeps_one_else_the_recorded_expiry(
    engine, dynamodb, viewer, settings
):
    show_create("ぼっち・ざ・ろっく！", "bocchi")
    operations.catalog_rebuild(requested_by="test", full=True)
    manifest = Family.objects.get(name="catalog").manifest

    response = viewer.get(family_url("catalog"))

    source = "ttl-source-recorded" if settings.CACHEOPS_BACKEND == "momento" else "ttl-source-cache"
    assert len(rows(response, source)) == len(manifest["chunks"])


def test_with_the_cache_unreachable_the_family_page_says_so_and_shows_the_recorded_ttls(
    published, cache_unreachable, viewer
):
    manifest = Family.objects.get(name="catalog").manifest

    response = viewer.get(family_url("catalog"))

    assert response.status_code == 200
    assert 'id="cache-unreachable"' in response.content.decode()
    assert len(rows(response, "ttl-source-recorded")) == len(manifest["chunks"])


@pytest.mark.parametrize(
    "name",
    [
        "nothing",
        "catalog2",
        "program:",
        "program:not-an-id",
        program_family("01ARZ3NDEKTSV4RRFFQ69G5FAV"),  # the shape of an id, but never built
        "program:" + "A" * 5000,
        "%00",
        "program:%00",
        "%E3%81%82",
    ],
)
def test_an_unknown_or_malformed_family_is_a_404_page(viewer, name):
    family_create("catalog")

    response = viewer.get(family_url(name))

    assert response.status_code == 404
    assert 'id="family-missing"' in response.content.decode()


# The operations log


@pytest.fixture
def logged(viewer):
    """Operations of several kinds, families, results and requesters."""
    now = timezone.now()
    rows = {
        "catalog-rebuild": dict(kind="rebuild", family="catalog", requested_by="eri", result="published"),
        "program-rebuild": dict(kind="rebuild", family=program_family(), requested_by="beat", result="failed"),
        "rollback": dict(kind="rollback", family="catalog", requested_by="ops-ken", result="done", duration_ms=61_500),
        "running": dict(kind="prewarm", family="catalog", requested_by="cli", heartbeat_at=now),
    }
    made = {name: Operation.objects.create(**fields) for name, fields in rows.items()}
    made["program-rebuild"].detail = "x" * 500
    made["program-rebuild"].save()
    return made


def logged_requesters(response) -> list[str]:
    return [cells[1] for cells in rows(response, "operation-row")]


def test_the_operations_log_shows_who_what_when_and_how_it_ended(viewer, logged):
    response = viewer.get(OPERATIONS, headers=EN)

    assert response.status_code == 200
    by_who = {cells[1]: cells for cells in rows(response, "operation-row")}
    assert set(by_who) == {"eri", "beat", "ops-ken", "cli"}
    # JST to the second (with the broadcast day after midnight), UTC beside it
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST( \(.*\))? \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", by_who["eri"][0]
    )
    assert [by_who["ops-ken"][i] for i in (2, 3, 4, 5, 6)] == ["rollback", "catalog", "1 min 01 s", "done", "— → —"]
    assert [by_who["cli"][i] for i in (4, 5)] == ["—", "running"]
    assert len(by_who["beat"][7]) <= 120
    assert 'class="result result-error"' in response.content.decode()
    assert 'class="result result-building"' in response.content.decode()


def test_the_operations_log_names_a_program_family_by_its_title_and_says_when_the_program_is_gone(viewer):
    title, reading = "薬屋のひとりごと", "クスリヤノヒトリゴト"
    program = domain.Program(id=str(ULID()), slug="", title=title, title_kana=reading, version=1)
    ProgramEntry.objects.bulk_create([program_index.entry_for(program)])
    gone = program_family()
    Operation.objects.create(kind="rebuild", family=f"program:{program.id}", requested_by="eri", result="published")
    Operation.objects.create(kind="rebuild", family=gone, requested_by="beat", result="published")

    by_who = {cells[1]: cells for cells in rows(viewer.get(OPERATIONS, headers=EN), "operation-row")}

    assert by_who["eri"][3] == f"薬屋のひとりごと クスリヤノヒトリゴト {program.id}"
    assert by_who["beat"][3] == f"program deleted {gone.removeprefix('program:')}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "rebuild"}, {"eri", "beat"}),
        ({"family": "program:"}, {"beat"}),
        ({"family": "cat"}, {"eri", "ops-ken", "cli"}),
        ({"result": "failed"}, {"beat"}),
        ({"result": "unfinished"}, {"cli"}),
        ({"requested_by": "ops-ken"}, {"ops-ken"}),
        ({"kind": "rebuild", "family": "catalog"}, {"eri"}),
        ({"kind": "no-such-kind"}, set()),
        ({"family": "%"}, set()),
        ({"requested_by": "_"}, set()),
    ],
)
def test_the_operations_log_filters(viewer, logged, query, expected):
    response = viewer.get(OPERATIONS, query)

    assert response.status_code == 200
    assert set(logged_requesters(response)) == expected


def test_the_operations_log_pages_by_fifty_newest_first(viewer):
    for n in range(120):
        Operation.objects.create(kind="rebuild", family="catalog", requested_by=f"user{n:03d}", result="done")

    first = viewer.get(OPERATIONS, {"kind": "rebuild"})
    last = viewer.get(OPERATIONS, {"kind": "rebuild", "page": 3})

    assert logged_requesters(first) == [f"user{n:03d}" for n in range(119, 69, -1)]
    assert logged_requesters(last) == [f"user{n:03d}" for n in range(19, -1, -1)]
    assert "kind=rebuild&amp;page=2" in first.content.decode()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"page": "99999999999999999999"}, 200),
        ({"page": "9" * 5000}, 400),
        ({"page": "-1"}, 400),
        ({"page": "1.5"}, 400),
        ({"page": "abc"}, 400),
        ({"family": "x" * 5000}, 400),
        ({"requested_by": "y" * 5000}, 400),
        ({"kind": "k" * 5000}, 400),
        ({"result": "r" * 5000}, 400),
        ({"kind": "\x00"}, 400),
        ({"family": "cat\x00alog"}, 400),
        ({"result": "'; DROP TABLE cacheops_operation; --"}, 400),
        ({"requested_by": "<script>alert(1)</script>"}, 200),
        ("family=%ff%fe&kind=%C0%80", 200),
        ("page=1&page=2&page=3", 200),
        ("kind[]=rebuild&__proto__=x", 200),
    ],
)
def test_the_operations_log_answers_hostile_query_strings_with_200_or_400(viewer, logged, query, status):
    response = viewer.get(f"{OPERATIONS}?{query}") if isinstance(query, str) else viewer.get(OPERATIONS, query)

    assert response.status_code == status
    if status == 400:
        assert 'id="console-query-errors"' in response.content.decode()
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert Operation.objects.count() == len(logged)


@pytest.mark.parametrize("query", [{"q": "z" * 5000}, {"q": "\x00"}, {"page": "0"}, {"page": "x"}])
def test_the_overview_answers_a_bad_query_string_with_a_400_page(viewer, query):
    response = viewer.get(OVERVIEW, query)

    assert response.status_code == 400
    assert 'id="console-query-errors"' in response.content.decode()


def test_the_console_is_read_only(viewer, published, logged):
    for url in (OVERVIEW, family_url("catalog"), OPERATIONS):
        page = viewer.get(url).content.decode()

        forms = re.findall(r"<form[^>]*>", page)
        assert [form for form in forms if "post" in form.lower() and 'id="logout-form"' not in form] == [], url
        assert viewer.post(url, {"kind": "rebuild"}).status_code == 405, url
    assert viewer.head(OVERVIEW).status_code == 200


# The Content-Security-Policy


def test_no_page_needs_an_inline_script_or_style(viewer, published, logged):
    pages = [
        "/admin/",
        OVERVIEW,
        family_url("catalog"),
        family_url(program_family()),
        OPERATIONS,
        OPERATIONS + "?page=x",
    ]
    for url in pages:
        response = viewer.get(url)

        refused, _scripts = refused_by_policy(response)
        assert refused == [], url
        assert "script-src 'self'" in response["Content-Security-Policy"], url
    assert 'src="/static/cacheops/console.js"' in viewer.get(OVERVIEW).content.decode()
    assert finders.find("cacheops/console.js") and finders.find("cacheops/console.css")


@pytest.mark.django_db
def test_a_build_whose_worker_died_stops_showing_as_building_after_three_missed_heartbeats(viewer, settings):
    settings.CACHEOPS_HEARTBEAT_SECONDS = 5
    name = program_family()
    Family.objects.create(name=name, current_version="0123456789abcdef", published_generation=1)
    now = timezone.now()
    op = Operation.objects.create(kind="rebuild", family=name, result="", heartbeat_at=now - timedelta(seconds=14))
    assert summaries.family_summaries([Family.objects.get(name=name)], now)[0].state == "building"

    Operation.objects.filter(pk=op.pk).update(heartbeat_at=now - timedelta(seconds=16))  # no sign of life since
    assert summaries.family_summaries([Family.objects.get(name=name)], now)[0].state == "fresh"
