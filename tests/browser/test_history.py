"""Going back to a revision in Chromium: the history shows both sides, the revert saves, a stale one is refused."""

import pytest

from cms import selectors

from .test_editing import program_add, saved_id

pytestmark = pytest.mark.browser


def test_revert_to_a_revision_and_a_stale_revert_refused(new_page, editor_login, live_server):
    page, other = new_page(), new_page()
    editor_login(page)
    editor_login(other)
    program_id = program_add(page, live_server)
    page.fill("#id_title", "進撃の巨人 The Final Season")
    page.fill("#id_description", "壁の外の世界へ。")
    page.click("#program_form [name=_continue]")
    saved_id(page)

    page.click(".object-tools a.historylink")
    history = f"{live_server.url}/admin/cms/program/{program_id}/history/"
    page.wait_for_url(history)
    other.goto(history)
    rows = page.locator("#change-history tbody tr")
    assert rows.count() == 2
    changed = rows.nth(1)
    assert changed.locator(".history-change-title .history-before").inner_text() == "進撃の巨人"
    assert changed.locator(".history-change-title .history-after").inner_text() == "進撃の巨人 The Final Season"
    assert changed.locator(".history-change-description .history-before").inner_text() == "—"
    assert changed.locator(".history-current").inner_text() == "現在の内容"
    button = rows.nth(0).get_by_role("button", name="このリビジョンに戻す")
    assert page.locator(".revert-button").count() == 1

    button.click()
    page.wait_for_url(history)
    assert "のリビジョンに戻しました" in page.locator(".messagelist .success").inner_text()
    assert rows.count() == 3
    assert rows.nth(2).locator(".history-change-title .history-after").inner_text() == "進撃の巨人"
    assert "リビジョンに戻しました" in rows.nth(2).locator(".history-reverted").inner_text()
    page.goto(f"{live_server.url}/admin/cms/program/{program_id}/change/")
    assert page.input_value("#id_title") == "進撃の巨人"
    assert page.input_value("#id_description") == ""

    # The other editor's page still shows the history as it was: their revert is refused, nothing overwritten.
    other.locator(".revert-button").first.click()
    other.wait_for_url(history)
    assert "履歴を開いた後に変更された" in other.locator(".messagelist .error").inner_text()
    assert other.locator("#change-history tbody tr").count() == 3
    stored = selectors.program_get(program_id)
    assert (stored.title, stored.version) == ("進撃の巨人", 3)
