"""Who may see and change content in the admin: anonymous, Viewers, Ops and Editors."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from cms import services
from tests.cms.conftest import form_read

MODELS = ("program", "season", "episode")
VIEWS = ("changelist", "add", "change", "delete", "history")
READ_ONLY_ROLES = ("viewer_client", "ops_client")


def _url(tree, model: str, view: str) -> str:
    if view in ("changelist", "add"):
        return reverse(f"admin:cms_{model}_{view}")
    return reverse(f"admin:cms_{model}_{view}", args=[getattr(tree, model).id])


def _statuses(client, tree, model: str, views=VIEWS) -> dict[str, int]:
    return {view: client.get(_url(tree, model, view)).status_code for view in views}


def _write_attempts(client, tree, model: str, data: dict) -> dict[str, object]:
    """Try every kind of write on `model` as `client`; return the responses by name."""
    item_id = getattr(tree, model).id
    return {
        "change": client.post(_url(tree, model, "change"), {**data, "title": "Changed without permission"}),
        "bulk": client.post(_url(tree, model, "changelist"), {"action": "publish", "_selected_action": item_id}),
        "delete": client.post(_url(tree, model, "delete"), {"version": data.get("version", "1")}),
        "add": client.post(_url(tree, model, "add"), {**data, "title": "Added without permission", "slug": "nope"}),
    }


@pytest.fixture
def change_data(editor_client, tree):
    """What Save would send for each model's change form, as an editor reads it."""
    return {
        model: form_read(editor_client.get(_url(tree, model, "change")), f"{model}_form").values for model in MODELS
    }


# Anonymous visitors


def test_anonymous_is_sent_to_login_from_the_index(client, raw_dynamodb):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


@pytest.mark.parametrize("model", MODELS)
def test_anonymous_is_sent_to_login_from_every_view(client, tree, model):
    for view in VIEWS:
        url = _url(tree, model, view)
        response = client.get(url)

        assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={url}"), view


@pytest.mark.parametrize("model", MODELS)
def test_anonymous_writes_change_nothing(client, tree, raw_dynamodb, change_data, model):
    before = raw_dynamodb.snapshot()

    responses = _write_attempts(client, tree, model, change_data[model])

    for name, response in responses.items():
        assert response.status_code == 302, name
        assert response["Location"].startswith("/admin/login/"), name
    assert raw_dynamodb.snapshot() == before


# Viewers and Ops: read only


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
def test_read_only_staff_see_the_index_without_add_links(request, raw_dynamodb, role):
    response = request.getfixturevalue(role).get("/admin/")

    assert response.status_code == 200
    page = response.content.decode()
    for model in MODELS:
        assert f'href="/admin/cms/{model}/"' in page
        assert f'href="/admin/cms/{model}/add/"' not in page


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
@pytest.mark.parametrize("model", MODELS)
def test_read_only_staff_can_view_but_not_open_add_or_delete(request, tree, role, model):
    client = request.getfixturevalue(role)

    assert _statuses(client, tree, model) == {
        "changelist": 200,
        "add": 403,
        "change": 200,
        "delete": 403,
        "history": 200,
    }
    picked = client.get(_url(tree, model, "add"), {"program": tree.program.id})
    assert picked.status_code == 403


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
@pytest.mark.parametrize("model", MODELS)
def test_read_only_staff_get_a_disabled_form_without_save(request, tree, role, model):
    response = request.getfixturevalue(role).get(_url(tree, model, "change"))

    assert getattr(tree, model).title in response.content.decode()
    form = form_read(response, f"{model}_form")
    assert form.values["title"] == getattr(tree, model).title
    assert len(form.controls) >= 5
    assert [c["name"] for c in form.controls if "disabled" not in c] == []
    assert form.buttons == []
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert 'class="deletelink"' not in page
    assert 'class="addlink"' not in page


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
@pytest.mark.parametrize("model", MODELS)
def test_read_only_staff_list_has_no_actions_or_add_link(request, tree, role, model):
    page = request.getfixturevalue(role).get(_url(tree, model, "changelist")).content.decode()

    assert getattr(tree, model).title in page
    assert 'name="action"' not in page
    assert 'name="_selected_action"' not in page
    assert 'class="addlink"' not in page


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
@pytest.mark.parametrize("model", MODELS)
def test_read_only_staff_cannot_write(request, tree, raw_dynamodb, change_data, role, model):
    before = raw_dynamodb.snapshot()

    responses = _write_attempts(request.getfixturevalue(role), tree, model, change_data[model])

    assert {name: r.status_code for name, r in responses.items()} == {
        "change": 403,
        "bulk": 403,
        "delete": 403,
        "add": 403,
    }
    assert raw_dynamodb.snapshot() == before


# Editors: everything


def test_editor_sees_the_index_with_add_links(editor_client, raw_dynamodb):
    response = editor_client.get("/admin/")

    assert response.status_code == 200
    for model in MODELS:
        assert f'href="/admin/cms/{model}/add/"' in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_editor_can_open_every_view(editor_client, tree, model):
    assert _statuses(editor_client, tree, model) == dict.fromkeys(VIEWS, 200)

    response = editor_client.get(_url(tree, model, "change"))
    form = form_read(response, f"{model}_form")
    assert [c["name"] for c in form.controls if "disabled" in c] == []
    assert [button["name"] for button in form.buttons] == ["_save", "_addanother", "_continue"]
    assert f'href="{_url(tree, model, "delete")}" class="deletelink"' in response.content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_editor_can_change_publish_and_delete(editor_client, tree, raw_dynamodb, change_data, model):
    table, item_id = f"{model}s", getattr(tree, model).id
    if model == "season":
        # A season with episodes cannot be deleted, so remove its episode first.
        editor_client.post(_url(tree, "episode", "delete"), {"version": tree.episode.version})

    changed = editor_client.post(_url(tree, model, "change"), {**change_data[model], "title": "Renamed"})
    assert changed.status_code == 302
    assert raw_dynamodb.get(table, item_id)["title"] == "Renamed"

    selected = f"{item_id}:{raw_dynamodb.get(table, item_id)['version']}"  # as the changelist row lists it
    bulk = editor_client.post(_url(tree, model, "changelist"), {"action": "publish", "_selected_action": selected})
    assert bulk.status_code == 302
    assert raw_dynamodb.get(table, item_id)["status"] == "published"

    version = raw_dynamodb.get(table, item_id)["version"]
    deleted = editor_client.post(_url(tree, model, "delete"), {"version": version})
    assert deleted.status_code == 302
    assert deleted["Location"] == _url(tree, model, "changelist")
    assert raw_dynamodb.get(table, item_id) is None


# Answers that could tell which ids exist


@pytest.fixture
def nobody_client(db) -> Client:
    """A staff member in no group: may log in to the admin, may see no content."""
    client = Client()
    client.force_login(User.objects.create_user("nao-nobody", password="secret-pass-123", is_staff=True))
    return client


def _item_urls(model: str, object_id: str) -> dict[str, str]:
    return {view: reverse(f"admin:cms_{model}_{view}", args=[object_id]) for view in ("change", "delete", "history")}


@pytest.mark.parametrize("model", MODELS)
def test_staff_without_rights_get_403_for_real_and_unknown_ids_alike(nobody_client, tree, raw_dynamodb, model):
    before = raw_dynamodb.snapshot()

    for object_id in (getattr(tree, model).id, services.new_id()):
        for view, url in _item_urls(model, object_id).items():
            assert nobody_client.get(url).status_code == 403, (view, object_id)
            if view != "history":
                assert nobody_client.post(url, {"title": "x", "version": "1"}).status_code == 403, (view, object_id)
    assert raw_dynamodb.snapshot() == before


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
@pytest.mark.parametrize("model", MODELS)
def test_read_only_staff_get_403_for_delete_of_real_and_unknown_ids_alike(request, tree, role, model):
    client = request.getfixturevalue(role)

    for object_id in (getattr(tree, model).id, services.new_id()):
        assert client.get(_item_urls(model, object_id)["delete"]).status_code == 403, object_id


@pytest.mark.parametrize("model", MODELS)
def test_staff_with_rights_get_404_for_an_unknown_id(editor_client, viewer_client, tree, model):
    unknown = _item_urls(model, services.new_id())

    assert {view: editor_client.get(url).status_code for view, url in unknown.items()} == dict.fromkeys(unknown, 404)
    assert viewer_client.get(unknown["change"]).status_code == 404
    assert viewer_client.get(unknown["history"]).status_code == 404
