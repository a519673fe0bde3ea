"""Admin reads: the program list searched by title or reading, page by page, and a program's contents."""

import pytest

from cms import program_index, selectors, services
from cms.kana import reading_key

# Program saves keep the SQL program list, which program pages are picked from.
pytestmark = pytest.mark.django_db


def _program(title: str, kana: str = "", status: str = "draft", **fields):
    return services.program_create(
        user="seed", title=title, title_kana=kana, slug=f"p-{services.new_id().lower()}", status=status, **fields
    )


@pytest.fixture
def sakura(raw_dynamodb, db):
    """60 programs: 20 match "さくら" by title, 20 by kana only, 15 by both, 5 not at all."""
    groups = {
        "title": [_program(f"サクラ{i:02d}", f"べつのよみ{i:02d}") for i in range(20)],
        "kana": [_program(f"桜{i:02d}", f"さくら{i:02d}") for i in range(20)],
        "both": [_program(f"さくらんぼ{i:02d}", f"サクランボ{i:02d}") for i in range(15)],
        "neither": [_program(f"梅{i:02d}", f"うめ{i:02d}") for i in range(5)],
    }
    return {name: {p.id for p in programs} for name, programs in groups.items()}


def _all_pages(size: int, **params) -> list[list]:
    pages, cursor = [], None
    while True:
        page = selectors.programs_page(size=size, cursor=cursor, **params)
        pages.append(page)
        cursor = page.next_cursor
        if not cursor:
            return pages
        assert len(pages) < 100, "paging does not end"


def test_search_pages_cover_every_match_exactly_once(sakura):
    expected = sakura["title"] | sakura["kana"] | sakura["both"]
    # 55 is the edge where only duplicates are left after a full page: no empty page may follow.
    for query, size in (("サクラ", 50), ("ｻｸﾗ", 50), ("さくら", 7), ("さくら", 55)):
        pages = _all_pages(size, q=query)

        ids = [p.id for page in pages for p in page.items]
        assert len(ids) == len(set(ids)) == 55, (query, size)
        assert set(ids) == expected, (query, size)
        assert [len(page.items) for page in pages[:-1]] == [size] * (len(pages) - 1), (query, size)
        assert 0 < len(pages[-1].items) <= size, (query, size)

    items = selectors.programs_page(q="さくら", size=60).items
    assert items == sorted(items, key=lambda p: (reading_key(p.title_kana or p.title), p.id))


def test_search_previous_page_is_the_same_page(sakura):
    first = selectors.programs_page(q="さくら", size=20)
    second = selectors.programs_page(q="さくら", size=20, cursor=first.next_cursor)
    third = selectors.programs_page(q="さくら", size=20, cursor=second.next_cursor)

    assert third.next_cursor is None
    assert first.prev_cursor is None and second.prev_cursor == ""
    assert [p.id for p in selectors.programs_page(q="さくら", size=20, cursor=third.prev_cursor).items] == [
        p.id for p in second.items
    ]
    assert [p.id for p in selectors.programs_page(q="さくら", size=20, cursor=second.prev_cursor).items] == [
        p.id for p in first.items
    ]


def test_search_with_filters_lists_only_matching_programs(raw_dynamodb):
    wanted = {
        _program("ハイキュー!!", "はいきゅー", genre="sports", status="published").id,
        _program("背番号", "はいばんごう", genre="sports", status="published").id,
        _program("はいからさん", "ハイカラサン", genre="sports", status="published").id,
    }
    _program("ハイキュー!! 劇場版", "はいきゅー げきじょうばん", genre="movie", status="published")
    _program("灰と幻想のグリムガル", "はいとげんそうのぐりむがる", genre="sports", status="draft")

    pages = _all_pages(2, q="ハイ", genre="sports", status="published")

    ids = [p.id for page in pages for p in page.items]
    assert sorted(ids) == sorted(wanted)


def test_cursor_of_another_search_is_refused(raw_dynamodb):
    for title in ("うめぼし", "うめしゅ", "うめだ"):
        _program(title)
    cursor = selectors.programs_page(q="うめ", size=1).next_cursor
    assert len(selectors.programs_page(q="うめ", size=1, cursor=cursor).items) == 1

    with pytest.raises(selectors.BadCursor):
        selectors.programs_page(q="うめし", size=1, cursor=cursor)
    with pytest.raises(selectors.BadCursor):
        selectors.programs_page(q="うめ", status="published", size=1, cursor=cursor)
    with pytest.raises(selectors.BadCursor):
        selectors.programs_page(q="うめ", size=1, cursor=cursor[:-2] + ("xx" if not cursor.endswith("xx") else "yy"))


def test_deleted_program_drops_out_of_search_and_pickers(raw_dynamodb, db):
    kept = _program("ちはやふる", "ちはやふる")
    gone = _program("ちびまる子ちゃん", "ちびまるこちゃん")

    services.program_delete(program_id=gone.id, version=gone.version, user="editor")

    assert [p.id for p in selectors.programs_page(q="ち").items] == [kept.id]
    assert program_index.choices_search("", 1, 10_000)[0] == [(kept.id, "ちはやふる")]
    assert selectors.program_titles([kept.id, gone.id]) == {kept.id: "ちはやふる"}


def test_program_contents_groups_episodes_under_their_seasons(raw_dynamodb):
    program = _program("薬屋のひとりごと", "くすりやのひとりごと")
    later = services.season_create(user="seed", program_id=program.id, title="第2期", sort_order=2, status="draft")
    first = services.season_create(user="seed", program_id=program.id, title="第1期", sort_order=1, status="draft")
    for season, numbers in ((later, (2, 1)), (first, (3, 1, 2))):
        for number in numbers:
            services.episode_create(
                user="seed",
                program_id=program.id,
                season_id=season.id,
                number=number,
                title=f"{season.title} 第{number}話",
                duration_s=1440,
            )

    seasons, episodes = selectors.program_contents(program.id)

    assert [s.title for s in seasons] == ["第1期", "第2期"]
    assert [e.number for e in episodes[first.id]] == [1, 2, 3]
    assert [e.number for e in episodes[later.id]] == [1, 2]
    assert selectors.program_children_count(program.id) == (2, 5)
