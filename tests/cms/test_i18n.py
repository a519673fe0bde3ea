"""The admin speaks Japanese by default and English on request; the Japanese catalog is complete."""

import gettext
import html
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation

from cms import models, services

PO = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PROGRAM_ADD = "/admin/cms/program/add/"
PROGRAMS = "/admin/cms/program/"


@pytest.fixture(autouse=True)
def language_restored():
    """LocaleMiddleware activates each request's language in this thread: put the default back."""
    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("sora-admin", password="secret-pass-123"))
    return client


def label(response, field: str) -> str:
    """The text of the <label> of form field `field`."""
    match = re.search(rf'<label[^>]* for="id_{field}"[^>]*>(.*?)</label>', response.content.decode(), re.S)
    assert match, f"no label for {field}"
    return match.group(1).strip()


def headers(response) -> list[str]:
    """The column headers of the changelist's result table."""
    table = re.search(r'<table id="result_list">(.*?)</table>', response.content.decode(), re.S).group(1)
    return re.findall(r'<th scope="col"><div class="text"><span>(.*?)</span>', table)


# Strings in code


def test_strings_translate_to_japanese():
    with translation.override("ja"):
        assert str(models.Program._meta.verbose_name) == "番組"
        assert str(models.Episode._meta.verbose_name_plural) == "エピソード"
        assert translation.gettext("Available from") == "配信開始"
        assert str(services.STALE_MESSAGE).startswith("この項目は、開いた後にほかのユーザーが変更しました。")
        assert translation.ngettext("%(count)d season", "%(count)d seasons", 2) % {"count": 2} == "シーズン2件"
        assert translation.ngettext("%(count)d episode", "%(count)d episodes", 1) % {"count": 1} == "エピソード1件"
    with translation.override("en"):
        assert str(models.Program._meta.verbose_name) == "program"
        assert translation.ngettext("%(count)d season", "%(count)d seasons", 2) % {"count": 2} == "2 seasons"


# Pages


def test_program_add_page_is_japanese_by_default(superuser_client):
    response = superuser_client.get(PROGRAM_ADD)

    assert response.status_code == 200
    assert response.headers["Content-Language"] == "ja"
    assert label(response, "title_kana").startswith("読み仮名")
    assert label(response, "key_art_upload").startswith("キービジュアル")
    assert label(response, "publish_at").startswith("配信開始")
    assert label(response, "sort_order").startswith("並び順")
    page = response.content.decode()
    assert "<title>番組を追加" in page
    assert '<option value="anime">アニメ</option>' in page
    assert '<option value="draft" selected>下書き</option>' in page


@pytest.mark.parametrize("how", ["accept-language", "cookie"])
def test_program_add_page_in_english_on_request(superuser_client, how):
    if how == "cookie":
        superuser_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        response = superuser_client.get(PROGRAM_ADD)
    else:
        response = superuser_client.get(PROGRAM_ADD, headers={"accept-language": "en"})

    assert response.status_code == 200
    assert response.headers["Content-Language"] == "en"
    assert label(response, "title_kana").startswith("Title reading (kana)")
    assert label(response, "publish_at").startswith("Available from")
    assert "読み仮名" not in response.content.decode()


def test_program_changelist_in_both_languages(superuser_client, tree):
    ja_page = superuser_client.get(PROGRAMS)
    en_page = superuser_client.get(PROGRAMS, headers={"accept-language": "en"})

    assert (ja_page.status_code, en_page.status_code) == (200, 200)
    assert headers(ja_page) == ["タイトル", "読み仮名", "ジャンル", "公開状態", "並び順", "配信開始"]
    assert headers(en_page) == ["Title", "Reading", "Genre", "Status", "Sort order", "Available from"]
    row = re.search(r"<tbody>(.*?)</tbody>", ja_page.content.decode(), re.S).group(1)
    assert "<td>アニメ</td>" in row and "<td>下書き</td>" in row
    assert "<td>Anime</td>" in en_page.content.decode()


def test_program_page_and_delete_summary_are_japanese(superuser_client, tree):
    change = superuser_client.get(f"{PROGRAMS}{tree.program.id}/change/")
    delete = superuser_client.get(f"{PROGRAMS}{tree.program.id}/delete/")

    box = change.content.decode().split('id="program-contents"', 1)[1]
    assert "シーズンとエピソード" in box
    assert f"{tree.season.title}</a> (下書き)" in box
    assert "あわせてシーズン1件とエピソード1件も削除されます。" in delete.content.decode()


def test_publish_at_is_called_by_one_name_everywhere_an_editor_meets_it(superuser_client, tree):
    program = superuser_client.get(f"{PROGRAMS}{tree.program.id}/change/")
    season = superuser_client.get(f"/admin/cms/season/{tree.season.id}/change/")
    episode = superuser_client.get(f"/admin/cms/episode/{tree.episode.id}/change/")
    episodes = superuser_client.get("/admin/cms/episode/")
    seasons = superuser_client.get("/admin/cms/season/")

    for form in (program, season, episode):
        assert label(form, "publish_at").startswith("配信開始")
        assert label(form, "expire_at").startswith("配信終了")
    assert headers(episodes)[4] == headers(seasons)[4] == "配信開始"
    orders = re.findall(r"&amp;o=(\w+)\">(.*?)</a>", episodes.content.decode())
    assert ("airtime", "配信開始") in orders
    for page in (program, season, episode, episodes, seasons):
        assert "放送日時" not in page.content.decode()


def test_the_catalog_has_one_word_for_the_start_of_availability():
    catalog = PO.read_text(encoding="utf-8")

    assert "放送日時" not in catalog
    with translation.override("ja"):
        assert translation.gettext("Available from") == "配信開始"
        assert translation.gettext("The end of availability must be after the start.").startswith("配信終了は配信開始")


# The catalog


def _msgfmt_statistics(po: Path) -> dict[str, int]:
    """Counts of translated, fuzzy and untranslated entries, as msgfmt reports them."""
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", os.devnull, str(po)],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C", "LANGUAGE": ""},
        check=True,
    )
    counts = {"translated": 0, "fuzzy": 0, "untranslated": 0}
    for number, kind in re.findall(r"(\d+) (translated|fuzzy|untranslated)", result.stderr):
        counts[kind] = int(number)
    return counts


def test_japanese_catalog_has_no_untranslated_or_fuzzy_entries():
    try:
        import polib
    except ImportError:
        counts = _msgfmt_statistics(PO)
    else:
        catalog = polib.pofile(str(PO))
        counts = {
            "translated": len(catalog.translated_entries()),
            "fuzzy": len(catalog.fuzzy_entries()),
            "untranslated": len(catalog.untranslated_entries()),
        }

    assert counts["translated"] > 100
    assert (counts["fuzzy"], counts["untranslated"]) == (0, 0)
    header = PO.read_text(encoding="utf-8")
    assert '"Language: ja\\n"' in header
    assert '"Plural-Forms: nplurals=1; plural=0;\\n"' in header


def test_committed_mo_matches_the_po(tmp_path):
    """The .mo is committed so the app runs without gettext: it must be compiled from the current .po."""
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(PO)], check=True)

    def catalog(path: Path) -> dict:
        with open(path, "rb") as handle:
            return gettext.GNUTranslations(handle)._catalog

    assert catalog(MO) == catalog(fresh)


# Every section of the admin


# Acronyms and names that stay as they are in Japanese headings; and the test's own data (user and group names).
KEPT_AS_IS = {"IP", "GET", "POST", "HTTP", "Accept", "sha256", "TTL", "URL", "HLS"}
DATA = {"sora", "admin", "mallory", "Editors", "Viewers", "Ops"}
HEADINGS = re.compile(
    r"<h1[^>]*>(.*?)</h1>|<h2[^>]*>(.*?)</h2>|<h3[^>]*>(.*?)</h3>|<caption[^>]*>(.*?)</caption>"
    r'|<th(?! class="field-)[^>]*>(.*?)</th>|<summary[^>]*>(.*?)</summary>|<label[^>]*>(.*?)</label>'
    r'|<div class="breadcrumbs">(.*?)</div>|<option value="[a-z_]+">(.*?)</option>',
    re.S,
)


def english_words(page: str) -> set[str]:
    """Latin words in the page's headings, captions, column and row headers, filter titles, labels and actions."""
    words = set()
    for groups in HEADINGS.findall(page):
        text = html.unescape(re.sub(r"<[^>]+>", " ", "".join(groups)))
        words |= set(re.findall(r"[A-Za-z][A-Za-z0-9]+", text)) - KEPT_AS_IS - DATA
    return words


@pytest.fixture
def lockouts(db):
    """One row in each of the login-lockout tables, so their lists show their columns."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    where = {"ip_address": "192.0.2.1", "user_agent": "curl", "http_accept": "*/*", "path_info": "/admin/login/"}
    AccessAttempt.objects.create(username="mallory", get_data="", post_data="", failures_since_start=5, **where)
    AccessFailureLog.objects.create(username="mallory", locked_out=True, **where)
    AccessLog.objects.create(username="sora-admin", **where)


def test_every_admin_section_and_list_is_in_japanese(superuser_client, lockouts, tree):
    index = superuser_client.get("/admin/")
    sections = sorted(set(re.findall(r'href="(/admin/\w+/)" class="section"', index.content.decode())))
    assert "/admin/axes/" in sections and "/admin/cms/" in sections and "/admin/auth/" in sections

    pages = {"/admin/": index}
    for section in sections:
        pages[section] = superuser_client.get(section)
        for model in sorted(set(re.findall(rf'href="({section}\w+/)"', pages[section].content.decode()))):
            pages[model] = superuser_client.get(model)

    assert {url: response.status_code for url, response in pages.items()} == dict.fromkeys(pages, 200)
    assert "/admin/axes/accessattempt/" in pages and "/admin/auth/user/" in pages
    untranslated = {url: english_words(response.content.decode()) for url, response in pages.items()}
    assert {url: words for url, words in untranslated.items() if words} == {}
    assert "ログインのロックアウト" in index.content.decode()


def test_no_view_site_link_to_a_page_that_does_not_exist(superuser_client):
    page = superuser_client.get("/admin/").content.decode()

    assert "サイトを表示" not in page and "View site" not in page
    assert 'href="/"' not in page
    assert Client().get("/").status_code == 404  # nothing is served there
