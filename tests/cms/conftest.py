"""Shared fixtures for the content admin: staff in each group, their clients, a small program."""

import html
import importlib
import io
import os
import re
import types
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from unittest import mock

import boto3
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from PIL import Image

import cms.settings
from cms import services

TABLES = ("programs", "seasons", "episodes", "uniques")


class RawDynamoDB:
    """Plain boto3 reads of the content tables, independent of the app's own store code."""

    def __init__(self):
        self.client = boto3.client(
            "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
        )

    def table(self, name: str) -> str:
        return settings.DYNAMODB_TABLE_PREFIX + name

    def get(self, table: str, item_id: str) -> dict | None:
        """The raw item with plain values ({"title": "..."}), or None."""
        item = self.client.get_item(TableName=self.table(table), Key={"id": {"S": item_id}}, ConsistentRead=True)
        if "Item" not in item:
            return None
        return {name: _plain(value) for name, value in item["Item"].items()}

    def count(self, table: str) -> int:
        pages = self.client.get_paginator("scan").paginate(TableName=self.table(table), Select="COUNT")
        return sum(page["Count"] for page in pages)

    def counts(self) -> dict[str, int]:
        """Item count of every content table."""
        return {name: self.count(name) for name in TABLES}

    def snapshot(self) -> dict[str, list]:
        """Every item of every table, for comparing before and after a refused write."""
        result = {}
        for name in TABLES:
            pages = self.client.get_paginator("scan").paginate(TableName=self.table(name), ConsistentRead=True)
            items = [{k: _plain(v) for k, v in item.items()} for page in pages for item in page["Items"]]
            result[name] = sorted(items, key=lambda item: item.get("id") or item.get("key"))
        return result

    def counters(self) -> dict[str, int]:
        """The child counters that are not zero, by key."""
        pages = self.client.get_paginator("scan").paginate(TableName=self.table("counters"), ConsistentRead=True)
        counters = {item["key"]["S"]: int(item["children"]["N"]) for page in pages for item in page["Items"]}
        return {key: children for key, children in counters.items() if children}

    def children(self) -> dict[str, int]:
        """What the counters should say: seasons and episodes per program, episodes per season."""
        tables, counts = self.snapshot(), Counter()
        for season in tables["seasons"]:
            counts[f"program#{season['program_id']}"] += 1
        for episode in tables["episodes"]:
            counts.update((f"season#{episode['season_id']}", f"program#{episode['program_id']}"))
        return dict(counts)


def _plain(value: dict):
    ((kind, raw),) = value.items()
    if kind == "N":
        return int(raw)
    if kind == "L":
        return [_plain(v) for v in raw]
    return raw


@pytest.fixture
def raw_dynamodb(dynamodb) -> RawDynamoDB:
    """An empty content store plus plain boto3 reads of it."""
    return RawDynamoDB()


def _staff(username: str, group: str | None) -> User:
    user = User.objects.create_user(username, password="secret-pass-123", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def editor(db) -> User:
    return _staff("eri-editor", "Editors")


@pytest.fixture
def viewer(db) -> User:
    return _staff("vic-viewer", "Viewers")


@pytest.fixture
def ops(db) -> User:
    return _staff("oki-ops", "Ops")


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor_client(editor) -> Client:
    return _client_for(editor)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return _client_for(viewer)


@pytest.fixture
def ops_client(ops) -> Client:
    return _client_for(ops)


@dataclass
class Tree:
    program: object
    season: object
    episode: object


@pytest.fixture
def tree(raw_dynamodb, db) -> Tree:
    """One program with one season and one episode, made through the services."""
    program = services.program_create(
        user="seed", title="鬼滅の刃", title_kana="きめつのやいば", slug="kimetsu", genre="anime", status="draft"
    )
    season = services.season_create(user="seed", program_id=program.id, title="竈門炭治郎 立志編", status="draft")
    episode = services.episode_create(
        user="seed",
        program_id=program.id,
        season_id=season.id,
        number=1,
        title="残酷",
        duration_s=1440,
        status="draft",
    )
    return Tree(program, season, episode)


def ja(message: str, **values) -> str:
    """`message` as a Japanese editor sees it, from the same catalogs the admin uses."""
    with translation.override("ja"):
        text = translation.gettext(message)
    return text % values if values else text


def ja_plural(singular: str, plural: str, number: int, **values) -> str:
    """The plural `message` for `number` as a Japanese editor sees it."""
    with translation.override("ja"):
        text = translation.ngettext(singular, plural, number)
    return text % values if values else text


def png_bytes(size: tuple[int, int] = (64, 36)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def png_upload():
    """Factory of real PNG uploads."""

    def make(name: str = "art.png") -> SimpleUploadedFile:
        return SimpleUploadedFile(name, png_bytes(), content_type="image/png")

    return make


def page_text(response) -> str:
    """The page's HTML with its entities decoded, as the editor reads its words."""
    return html.unescape(response.content.decode())


def field_error(response, name: str) -> str:
    """The error text shown in the form row of field `name` (fails if there is none)."""
    page = response.content.decode()
    match = re.search(
        rf'<div class="form-row field-{name} errors">\s*<ul class="errorlist"[^>]*>(.*?)</ul>', page, re.S
    )
    assert match, f"no error shown next to {name}"
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def listed_titles(response) -> list[str]:
    """Titles linked in the changelist's result table, top to bottom."""
    page = response.content.decode()
    table = re.search(r'<table id="result_list">(.*?)</table>', page, re.S).group(1)
    return [html.unescape(t) for t in re.findall(r'<td><a href="/admin/cms/\w+/[^/]+/change/">(.*?)</a></td>', table)]


def link_href(response, css_class: str) -> str | None:
    """The unescaped href of the first link with class `css_class`, or None."""
    match = re.search(rf'<a class="{css_class}" href="([^"]*)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


class _FormReader(HTMLParser):
    """Collect the controls of one form the way a browser would submit them."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside = form_id, False
        self.values: dict[str, str] = {}
        self.controls: list[dict] = []
        self.buttons: list[dict] = []
        self._select = self._textarea = None
        self._first_option = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: v if v is not None else "" for k, v in attrs}
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and attrs.get("type") in ("submit", "button"):
            self.buttons.append(attrs)
        elif tag == "input" and name and name != "csrfmiddlewaretoken":
            self.controls.append(attrs)
            kind = attrs.get("type")
            if kind not in ("file", "checkbox", "radio") or (kind == "radio" and "checked" in attrs):
                self.values[name] = attrs.get("value", "")
        elif tag == "select":
            self.controls.append(attrs)
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = attrs.get("value", "")
                self.values.setdefault(self._select, self._first_option)
            if "selected" in attrs:
                self.values[self._select] = attrs.get("value", "")
        elif tag == "textarea":
            self.controls.append(attrs)
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            # Browsers drop the one newline that follows <textarea>.
            self.values[self._textarea] += data.removeprefix("\n") if not self.values[self._textarea] else data


def form_read(response, form_id: str) -> _FormReader:
    """Parse form `form_id` of a page: .values (what Save would send), .controls, .buttons."""
    reader = _FormReader(form_id)
    reader.feed(response.content.decode())
    return reader


def settings_from_env(**environ) -> types.SimpleNamespace:
    """The settings cms/settings.py makes with `environ` added to the environment (e.g. a production setup)."""
    with mock.patch.dict(os.environ, environ):
        module = importlib.reload(cms.settings)
        values = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    importlib.reload(cms.settings)
    return types.SimpleNamespace(**values)
