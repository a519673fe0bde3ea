"""Twenty editors saving one episode over HTTP at once: no save that answered success is ever lost."""

import re
import subprocess
import sys
import threading
import types
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings

from cms import services
from cms.store import episodes as episode_store
from cms.store.local import free_port
from tests.cacheops.conftest import process_env, process_stop, server_start, wait_for
from tests.cms.conftest import form_read

EDITORS = 20
ROUNDS = 10
PASSWORD = "race-pass-123"


@pytest.fixture
def web(tmp_path, raw_dynamodb):
    """The production server configuration (two workers) over this test's store and its own SQL db."""
    env = process_env(tmp_path, CACHEOPS_REBUILD_ON_SAVE="false")
    # The tables, then the editors: one password hash for all of them (each login still checks it).
    make_editors = (
        "from django.contrib.auth.hashers import make_password\n"
        "from django.contrib.auth.models import User\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        f"hashed = make_password('{PASSWORD}')\n"
        "User.objects.bulk_create(\n"
        "    User(username=f'editor{i}', password=hashed, is_staff=True, is_superuser=True)\n"
        f"    for i in range({EDITORS})\n"
        ")"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", make_editors], cwd=settings.BASE_DIR, env=env, check=True
    )
    base = f"http://127.0.0.1:{free_port()}"
    proc = server_start(env, base, tmp_path / "web.log", workers=2)

    def answers() -> bool:
        try:
            return requests.get(f"{base}/admin/login/", timeout=2).status_code == 200
        except requests.RequestException:  # not listening yet, or too busy starting to answer in time
            return False

    try:
        assert wait_for(lambda: answers() or proc.poll() is not None, 60) and proc.poll() is None
        yield base
    finally:
        process_stop(proc)


def logged_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/admin/login/", timeout=30)
    response = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=30,
    )
    assert response.url.endswith("/admin/"), response.text[:500]
    return session


def test_twenty_editors_saving_one_episode_lose_no_update(web, db):
    program = services.program_create(user="seed", title="葬送のフリーレン", slug="frieren", status="draft")
    season = services.season_create(user="seed", program_id=program.id, title="第1期", status="draft")
    episode = services.episode_create(
        user="seed",
        program_id=program.id,
        season_id=season.id,
        number=1,
        title="冒険の終わり",
        duration_s=1440,
        status="draft",
    )
    url = f"{web}/admin/cms/episode/{episode.id}/change/"
    outcomes: Counter[str] = Counter()
    saved_from: list[int] = []  # the version each successful save had read
    lock = threading.Lock()

    def edit(editor: int) -> None:
        session = logged_in(web, f"editor{editor}")
        for round_ in range(ROUNDS):
            page = session.get(url, timeout=60)
            assert page.status_code == 200
            values = form_read(types.SimpleNamespace(content=page.content), "episode_form").values
            read = int(values["version"])
            values |= {"synopsis": f"editor{editor} round {round_} read v{read}"}
            values["csrfmiddlewaretoken"] = session.cookies["csrftoken"]
            answer = session.post(url, data=values, allow_redirects=False, timeout=60)
            outcome = {302: "saved", 400: "refused as stale"}.get(answer.status_code, f"HTTP {answer.status_code}")
            with lock:
                outcomes[outcome] += 1
                if outcome == "saved":
                    saved_from.append(read)

    with ThreadPoolExecutor(EDITORS) as pool:
        list(pool.map(edit, range(EDITORS)))

    stored = episode_store.episode_get(episode.id)
    assert set(outcomes) <= {"saved", "refused as stale"}, outcomes  # no 5xx, nothing else
    assert sum(outcomes.values()) == EDITORS * ROUNDS
    assert outcomes["refused as stale"] > 0  # the editors did overlap
    # Every success is exactly one version step: each read a different version, and none went missing.
    assert sorted(saved_from) == list(range(1, stored.version))
    last = re.fullmatch(r"editor\d+ round \d+ read v(\d+)", stored.synopsis)
    assert last and int(last.group(1)) == stored.version - 1  # the stored value is the last success's
