"""A save is applied once however often it is sent: a lost answer, botocore's resend, a second click."""

from urllib.parse import urlsplit

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from tests.cms.conftest import form_read, ja, page_text
from tests.conftest import store_at
from tests.lossy_proxy import LossyProxy


def change_url(model: str, item_id: str) -> str:
    return reverse(f"admin:cms_{model}_change", args=[item_id])


@pytest.fixture
def lossy_store(dynamodb_url, settings):
    """The content store behind a proxy that can lose DynamoDB's answers; one resend per call, as on the web."""
    settings.DYNAMODB_MAX_RETRIES = 1
    proxy = LossyProxy(urlsplit(dynamodb_url).port)
    with store_at(proxy.url):
        yield proxy
    proxy.close()


def changes_logged(item_id: str) -> int:
    return LogEntry.objects.filter(object_id=item_id, action_flag=2).count()


def test_an_edit_whose_answer_was_lost_is_resent_answers_success_and_steps_the_version_once(
    editor_client, tree, raw_dynamodb, lossy_store
):
    url = change_url("episode", tree.episode.id)
    loaded = form_read(editor_client.get(url), "episode_form").values
    lossy_store.answers_lost("TransactWriteItems")

    response = editor_client.post(url, {**loaded, "title": "鬼殺隊"})

    assert response.status_code == 302
    assert lossy_store.operations("TransactWriteItems") == 2  # DynamoDB did it, the answer was lost, botocore resent
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["version"]) == ("鬼殺隊", 2)
    assert changes_logged(tree.episode.id) == 1


def test_a_save_left_unconfirmed_and_saved_again_answers_success_and_is_applied_once(
    editor_client, tree, raw_dynamodb, lossy_store
):
    url = change_url("program", tree.program.id)
    loaded = form_read(editor_client.get(url), "program_form").values
    lossy_store.answers_lost("TransactWriteItems", count=2)  # the first send and its resend

    unconfirmed = editor_client.post(url, {**loaded, "title": "鬼滅の刃 遊郭編"})

    assert unconfirmed.status_code == 503
    assert raw_dynamodb.get("programs", tree.program.id)["version"] == 2  # it went through all the same
    kept = form_read(unconfirmed, "program_form").values
    assert kept["title"] == "鬼滅の刃 遊郭編"

    again = editor_client.post(url, kept)  # the editor presses Save again, as the page says

    assert again.status_code == 302
    item = raw_dynamodb.get("programs", tree.program.id)
    assert (item["title"], item["version"]) == ("鬼滅の刃 遊郭編", 2)
    assert changes_logged(tree.program.id) == 1


def test_a_second_click_on_save_is_the_same_save(editor_client, tree, raw_dynamodb):
    url = change_url("season", tree.season.id)
    loaded = form_read(editor_client.get(url), "season_form").values
    sent = {**loaded, "title": "遊郭編"}

    first, second = editor_client.post(url, sent), editor_client.post(url, sent)

    assert (first.status_code, second.status_code) == (302, 302)
    assert raw_dynamodb.get("seasons", tree.season.id)["version"] == 2
    assert changes_logged(tree.season.id) == 1


def test_another_editor_saving_the_same_values_from_their_own_page_is_their_own_save(editor_client, tree, raw_dynamodb):
    url = change_url("season", tree.season.id)
    mine = form_read(editor_client.get(url), "season_form").values
    theirs = form_read(editor_client.get(url), "season_form").values
    assert editor_client.post(url, {**theirs, "title": "遊郭編"}).status_code == 302

    response = editor_client.post(url, {**mine, "title": "遊郭編"}, follow=True)

    # Not taken for the first save: merged with it (nothing conflicts) and stored as a save of its own.
    assert raw_dynamodb.get("seasons", tree.season.id)["version"] == 3
    assert changes_logged(tree.season.id) == 2
    assert "遊郭編" in page_text(response)


def test_an_add_form_sent_twice_adds_one_item(editor_client, tree, raw_dynamodb):
    add = reverse("admin:cms_season_add") + f"?program={tree.program.id}"
    loaded = form_read(editor_client.get(add), "season_form").values
    sent = {**loaded, "title": "刀鍛冶の里編", "status": "draft"}

    first, second = editor_client.post(add, sent), editor_client.post(add, sent)

    assert (first.status_code, second.status_code) == (302, 302)
    assert first["Location"] == second["Location"]
    assert raw_dynamodb.count("seasons") == 2  # the tree's own and this one
    assert LogEntry.objects.filter(action_flag=1).count() == 1


def test_an_add_form_sent_again_with_other_values_says_it_was_saved_and_adds_nothing(editor_client, tree, raw_dynamodb):
    add = reverse("admin:cms_season_add") + f"?program={tree.program.id}"
    loaded = form_read(editor_client.get(add), "season_form").values
    assert editor_client.post(add, {**loaded, "title": "刀鍛冶の里編", "status": "draft"}).status_code == 302
    before = raw_dynamodb.snapshot()

    response = editor_client.post(add, {**loaded, "title": "柱稽古編", "status": "draft"})

    assert response.status_code == 400
    assert ja("This form was saved already. Open the item from the list to change it.") in page_text(response)
    assert raw_dynamodb.snapshot() == before


def test_a_tampered_save_token_is_refused_and_nothing_is_stored(editor_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    loaded = form_read(editor_client.get(url), "episode_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**loaded, "title": "鬼殺隊", "save_token": loaded["save_token"] + "x"})

    assert response.status_code == 400
    assert ja("This form's hidden data is not valid; reload the page and try again.") in page_text(response)
    assert raw_dynamodb.snapshot() == before
