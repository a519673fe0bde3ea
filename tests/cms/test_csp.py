"""The admin sends a strict Content-Security-Policy, and its pages need nothing the policy refuses."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings
from storages.backends.s3 import S3Storage

from tests.cms.conftest import settings_from_env

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'self'"],
}


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    directives = [part.split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


class _InlineFinder(HTMLParser):
    """Collect what a strict policy would refuse: inline scripts, styles and handlers, other origins."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refused: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
            if not attrs.get("src"):
                self.refused.append("inline <script>")
        if tag == "style":
            self.refused.append("<style> element")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.refused.append(f"{name} handler on <{tag}>")
            if name == "style":
                self.refused.append(f"style attribute on <{tag}>")
            if name in ("src", "href", "action") and value and value.lower().startswith("javascript:"):
                self.refused.append(f"javascript: URL on <{tag}>")
        external = attrs.get("src") if tag in ("script", "img") else attrs.get("href") if tag == "link" else None
        if external and urlsplit(external).netloc:
            self.refused.append(f"<{tag}> from {external}")


def refused_by_policy(response) -> tuple[list[str], int]:
    finder = _InlineFinder()
    finder.feed(response.content.decode())
    return finder.refused, finder.scripts


def admin_urls(tree) -> list[str]:
    urls = ["/admin/", "/admin/cms/", "/admin/password_change/", "/admin/auth/user/", "/admin/axes/accessattempt/"]
    for kind in ("program", "season", "episode"):
        item_id = getattr(tree, kind).id
        urls += [f"/admin/cms/{kind}/", f"/admin/cms/{kind}/add/?program={tree.program.id}"]
        urls += [f"/admin/cms/{kind}/{item_id}/{view}/" for view in ("change", "delete", "history")]
    user_id = tree.user.pk
    return urls + ["/admin/cms/episode/add/", f"/admin/auth/user/{user_id}/change/", "/admin/auth/user/add/"]


@pytest.fixture
def superuser_client(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("sora-admin", password="secret-pass-123"))
    return client


@pytest.fixture
def site(tree, editor, superuser_client):
    tree.user = editor
    return tree


def test_every_admin_page_sends_the_policy(superuser_client, site):
    for url in admin_urls(site):
        response = superuser_client.get(url)

        assert response.status_code == 200, url
        assert policy(response) == POLICY, url


def test_login_and_error_pages_send_the_policy(client, raw_dynamodb):
    for url, status in (("/admin/login/", 200), ("/admin/nope/", 302), ("/static/nope.css", 404)):
        response = client.get(url)

        assert response.status_code == status, url
        assert policy(response) == POLICY, url


def test_lockout_page_sends_the_policy_and_needs_nothing_it_refuses(client, editor):
    for _ in range(5):
        response = client.post("/admin/login/", {"username": editor.username, "password": "wrong"})

    assert response.status_code == 429
    assert policy(response) == POLICY
    assert refused_by_policy(response)[0] == []


def test_admin_pages_have_no_inline_script_or_style(superuser_client, site, client):
    pages = {url: superuser_client.get(url) for url in admin_urls(site)}
    pages["/admin/login/"] = client.get("/admin/login/")

    for url, response in pages.items():
        refused, scripts = refused_by_policy(response)

        assert refused == [], url
        assert scripts >= 1, url  # the admin's theme script, at least: the check saw the page's scripts


def test_the_key_art_image_is_styled_from_a_file(editor_client, tree, png_upload):
    url = f"/admin/cms/program/{tree.program.id}/change/"
    form = {"title": tree.program.title, "slug": "kimetsu", "status": "draft", "sort_order": "0", "version": "1"}
    assert editor_client.post(url, {**form, "key_art_upload": png_upload()}).status_code == 302

    page = editor_client.get(url)

    assert '<img src="/media/key-art/' in page.content.decode()
    assert refused_by_policy(page)[0] == []
    assert '<link rel="stylesheet" href="/static/cms/admin.css">' in page.content.decode()


@pytest.mark.parametrize(
    "environ, media_origin",
    [
        ({}, None),
        ({"AWS_STORAGE_BUCKET_NAME": "airtime-media"}, "https://s3.ap-northeast-1.amazonaws.com"),
        (
            {"AWS_STORAGE_BUCKET_NAME": "airtime-media", "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:4566/"},
            "http://127.0.0.1:4566",
        ),
        (
            {"AWS_STORAGE_BUCKET_NAME": "airtime-media", "AWS_S3_CUSTOM_DOMAIN": "media.airtime.example"},
            "https://media.airtime.example",
        ),
    ],
    ids=("local files", "S3", "S3-compatible endpoint", "CDN domain"),
)
def test_images_may_come_from_the_media_bucket(environ, media_origin):
    configured = settings_from_env(**environ)
    img_src = configured.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"]

    assert img_src == ["'self'", "data:"] + ([media_origin] if media_origin else [])
    if media_origin:
        names = ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_CUSTOM_DOMAIN", "AWS_S3_REGION_NAME")
        with override_settings(**{name: getattr(configured, name) for name in names}):
            url = S3Storage().url("key-art/kimetsu.png")
        assert "{0.scheme}://{0.netloc}".format(urlsplit(url)) == media_origin
