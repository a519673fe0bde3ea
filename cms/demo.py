"""Deterministic demo content: programs, seasons and episodes generated from a seed."""

# Times are relative to a reference instant: "now" floored to the hour (UTC) unless given.
# The same seed and reference give identical content, so reruns within one clock hour match.
# No publish or expire time falls within GUARD_BEFORE / GUARD_AFTER of the reference, so the
# set of live items does not change for at least an hour after seeding.

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from ulid import ULID

from . import domain

JST = timezone(timedelta(hours=9))
GUARD_BEFORE = timedelta(hours=2)
GUARD_AFTER = timedelta(hours=3)
ID_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: demo ids carry a fixed, plausible time.
SYNOPSIS_CHARS = (110, 170)
AUTHOR = "demo"

# (kanji, reading, English) modifiers and nouns combined as "AのB".
_MODIFIERS = [
    w.split("/")
    for w in (
        "深夜/しんや/Midnight 東京/とうきょう/Tokyo 真夏/まなつ/Midsummer 下町/したまち/Downtown "
        "海辺/うみべ/Seaside 銀河/ぎんが/Galaxy 秘密/ひみつ/Secret 最後/さいご/Last 永遠/えいえん/Eternal "
        "春風/はるかぜ/Spring-Breeze 月曜/げつよう/Monday 雪国/ゆきぐに/Snow-Country 港町/みなとまち/Harbor-Town "
        "京都/きょうと/Kyoto 北国/きたぐに/Northern 放課後/ほうかご/After-School 令和/れいわ/Reiwa "
        "夜明け/よあけ/Dawn 黄昏/たそがれ/Twilight 七色/なないろ/Rainbow"
    ).split()
]
_NOUNS = [
    w.split("/")
    for w in (
        "探偵/たんてい/Detective 食堂/しょくどう/Diner 恋人/こいびと/Lovers 料理人/りょうりにん/Chef "
        "診療所/しんりょうじょ/Clinic 刑事/けいじ/Cops 家族/かぞく/Family 旅人/たびびと/Traveler "
        "学園/がくえん/Academy 花火/はなび/Fireworks 約束/やくそく/Promise 奇跡/きせき/Miracle "
        "図書館/としょかん/Library 商店街/しょうてんがい/Arcade 弁護士/べんごし/Lawyer 鉄道/てつどう/Railway "
        "物語/ものがたり/Story 戦士/せんし/Warriors 喫茶店/きっさてん/Cafe 天文台/てんもんだい/Observatory"
    ).split()
]
# (katakana, English) pairs combined as "ブルー・ハート" / "Blue Heart".
_KATAKANA = [
    w.split("/")
    for w in (
        "ブルー/Blue ミッドナイト/Midnight スター/Star ゴールデン/Golden サイレント/Silent "
        "ファースト/First ワイルド/Wild シークレット/Secret サマー/Summer ネオン/Neon "
        "クリスタル/Crystal ロンリー/Lonely"
    ).split()
]
_KATAKANA_NOUNS = [
    w.split("/")
    for w in (
        "ハート/Heart ステージ/Stage ロード/Road ライト/Light ゲーム/Game キッチン/Kitchen "
        "ストーリー/Story ウォーズ/Wars ラボ/Lab クルーズ/Cruise ホテル/Hotel ランナー/Runner"
    ).split()
]
# Genre-specific title words (word, reading, English) that follow a modifier.
_GENRE_WORDS = {
    "news": [("ニュース", "ニュース", "News"), ("報道スペシャル", "ほうどうスペシャル", "Report")],
    "sports": [("スポーツ", "スポーツ", "Sports"), ("スタジアム", "スタジアム", "Stadium")],
    "music": [("ミュージック", "ミュージック", "Music"), ("歌謡祭", "かようさい", "Song Festival")],
}
GENRE_LABELS = {
    "drama": "ドラマ",
    "anime": "アニメ",
    "variety": "バラエティ",
    "documentary": "ドキュメンタリー",
    "news": "ニュース",
    "sports": "スポーツ",
    "music": "音楽",
    "kids": "キッズ",
    "movie": "映画",
}
# genre: (seasons, episodes per season, days between episodes, episode duration in seconds)
_SHAPES = {
    "drama": ((1, 4), (9, 12), 7, (2700, 3300)),
    "anime": ((1, 4), (12, 13), 7, (1420, 1440)),
    "variety": ((1, 3), (26, 48), 7, (2700, 3400)),
    "documentary": ((1, 3), (6, 10), 7, (2900, 3000)),
    "news": ((1, 2), (50, 100), 1, (1500, 1800)),
    "sports": ((1, 2), (20, 38), 7, (6000, 7200)),
    "music": ((1, 3), (20, 45), 7, (3000, 3400)),
    "kids": ((1, 3), (24, 48), 7, (600, 1440)),
    "movie": ((1, 1), (1, 3), 0, (5400, 8400)),
}
_SLOTS = (19 * 60, 20 * 60, 21 * 60, 22 * 60, 23 * 60, 23 * 60 + 45, 24 * 60 + 30, 25 * 60 + 10)
_FAMILY = "佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤 吉田 山田 佐々木 松本 井上 木村 清水 森 池田 橋本".split()
_GIVEN = "健太 翔太 大輔 拓也 陽菜 結衣 美咲 さくら 葵 蓮 悠真 湊 凛 花 彩 真央 直樹 涼介 美月 千尋".split()
_TEAMS = (
    "東京ブルーウェーブ 大阪レッドスターズ 札幌ホワイトベアーズ 福岡ソニックス 横浜マリナーズ 仙台イーグルス".split()
)
_PLACES = "渋谷 横浜 札幌 那覇 金沢 函館 尾道 鎌倉 京都 博多 仙台 軽井沢".split()
_THINGS = "古い時計 一枚の写真 母の形見 設計図 銀の鍵 祖父の日記 約束の指輪 手書きの地図".split()
_TAGS = ("字幕あり", "独占配信", "見逃し配信", "4K", "先行配信", "5.1ch", "日本語吹替")
_SUBTITLES = (
    "再会 雨の日の約束 嘘と真実 最後の晩餐 眠れない夜 消えた手紙 旅立ちの朝 秘密の扉 "
    "すれ違う心 はじまりの場所 夏の終わりに 告白 決断の時 遠い記憶 ふたりの明日 "
    "真夜中の訪問者 最後の一手 明日への扉 帰り道 新しい風"
).split()
_SENTENCES = {
    "story": (
        "{a}は{place}で思いがけない人物と再会する。",
        "{b}が隠していた{thing}の秘密が、ついに明らかになる。",
        "一方、{a}のもとには差出人不明の手紙が届いていた。",
        "{place}に現れた謎の男の正体とは。",
        "{a}と{b}はすれ違いを重ねながらも、少しずつ距離を縮めていく。",
        "失われた{thing}を取り戻すため、{a}は最後の賭けに出る。",
        "過去の事件と今回の出来事をつなぐ手がかりが見つかる。",
        "{b}の決断が、仲間たちの運命を大きく変えていく。",
        "嵐の夜、{place}で起きた騒動に{a}たちが巻き込まれる。",
        "{a}は{b}に本当の気持ちを打ち明けられずにいた。",
        "新たな依頼人が持ち込んだのは、十年前に消えた{thing}の行方だった。",
        "仲間との約束を守るため、{b}は一人で{place}へ向かう。",
        "そして迎えた運命の朝、{a}の前に立ちはだかったのは意外な人物だった。",
        "笑いと涙の中で、家族の絆が試される。",
        "果たして{a}たちは真実にたどり着けるのか。",
    ),
    "variety": (
        "今回のゲストは{a}。",
        "{place}の人気店を巡り、絶品グルメを食べ尽くす。",
        "スタジオでは{b}が自慢の特技を披露する。",
        "視聴者から寄せられた悩みに、出演者が本音で答える。",
        "抱腹絶倒の新企画に、スタジオは笑いの渦に包まれる。",
        "{a}と{b}が{place}で一泊二日のガチンコ旅に挑む。",
        "最後は恒例のクイズ対決、勝つのは果たして誰か。",
    ),
    "documentary": (
        "{place}で暮らす人々の一年に密着した。",
        "職人たちが受け継いできた技と、{thing}に込めた思いに迫る。",
        "カメラは、誰も知らなかった{place}の素顔をとらえる。",
        "語りは{a}。",
        "貴重な記録映像と証言から、時代の転換点を読み解く。",
        "自然と共に生きる人々の知恵と工夫を紹介する。",
    ),
    "news": (
        "{place}の最新情報と、今日の主なニュースを分かりやすく伝える。",
        "専門家をスタジオに迎え、経済の動きを解説する。",
        "特集は、{place}で進む街づくりの現場から。",
        "キャスターは{a}と{b}。",
        "週末の天気と交通情報もお届けする。",
    ),
    "sports": (
        "{team_a}と{team_b}の注目の一戦を完全中継。",
        "試合後には選手のインタビューもお届けする。",
        "解説は{a}、実況は{b}。",
        "首位争いの行方を占う大一番、勝負の分かれ目はどこか。",
        "ハイライトとデータで今節を振り返る。",
    ),
    "music": (
        "{a}が新曲をテレビ初披露。",
        "{place}で行われたライブの模様をたっぷりお届けする。",
        "{b}が名曲の誕生秘話を語る。",
        "豪華アーティストによる一夜限りのコラボレーションも。",
        "懐かしのヒット曲を貴重な映像とともに振り返る。",
    ),
}
_STORY_GENRES = {"drama", "anime", "kids", "movie"}
_SHOW_SUBTITLES = {
    "variety": "絶品グルメ旅 ゲスト大集合SP 真夏の大運動会 ご当地名物対決 爆笑ハプニング集 秘密の特技選手権".split(),
    "documentary": "海に生きる 山の暮らし 職人の手 受け継ぐ味 冬の記憶 街の灯り".split(),
    "music": "春の歌特集 名曲セレクション 初出演アーティスト大集合 ライブ完全版 アコースティックナイト".split(),
}
_DESCRIPTION_LABELS = {
    "drama": "ヒューマンドラマ",
    "anime": "青春アニメ",
    "kids": "子ども向けアニメ",
    "movie": "長編映画",
    "variety": "バラエティ",
    "documentary": "ドキュメンタリー",
    "news": "ニュース",
    "sports": "スポーツ",
    "music": "音楽",
}
_DESCRIPTIONS = {
    "story": "{place}を舞台に、{a}と{b}が織りなす{label}。笑いと涙、そして小さな奇跡の物語。",
    "variety": "{a}と{b}がお届けする{label}。毎回多彩なゲストを迎え、{place}から笑いを届ける。",
    "documentary": "{place}を訪ね、人と土地の物語を丁寧に描く{label}シリーズ。語りは{a}。",
    "news": "その日の出来事を分かりやすく伝える{label}番組。キャスターは{a}と{b}。",
    "sports": "{team_a}、{team_b}ほか注目の試合をお届けする{label}中継。解説は{a}。",
    "music": "{a}と{b}が司会を務める{label}番組。{place}発のライブも毎回お届けする。",
}


@dataclass
class DemoContent:
    programs: list[domain.Program] = field(default_factory=list)
    seasons: list[domain.Season] = field(default_factory=list)
    episodes: list[domain.Episode] = field(default_factory=list)


def hour_floor(now: datetime | None = None) -> datetime:
    """Return `now` (default: the current time) in UTC, floored to the hour."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def demo_generate(*, seed: int, programs: int, now: datetime | None = None) -> DemoContent:
    """Generate `programs` programs with seasons and episodes, identical for the same seed and hour."""
    rng = random.Random(seed)
    reference = hour_floor(now)
    titles = _Titles(rng)
    content = DemoContent()
    for index in range(programs):
        # One sub-generator per program: program k is the same whatever the total count.
        _program_add(content, random.Random(rng.getrandbits(64)), index, titles, reference)
    return content


def _kind(rng: random.Random, index: int) -> str:
    # The first programs cover the states a demo must always show.
    forced = {0: "live", 1: "draft", 2: "expired", 3: "scheduled"}
    if index in forced:
        return forced[index]
    return rng.choices(("live", "ending", "draft", "expired", "scheduled"), (80, 5, 5, 5, 5))[0]


class _Titles:
    """Draw titles without repeats from pools shuffled once per seed."""

    def __init__(self, rng: random.Random):
        generic = [(f"{a}の{b}", f"{ka}の{kb}", f"{ea} {eb}") for a, ka, ea in _MODIFIERS for b, kb, eb in _NOUNS]
        generic += [(f"{a}・{b}", f"{a}・{b}", f"{ea} {eb}") for a, ea in _KATAKANA for b, eb in _KATAKANA_NOUNS]
        self.pools = {"generic": generic}
        for genre, words in _GENRE_WORDS.items():
            self.pools[genre] = [(a + w, ka + kw, f"{ea} {ew}") for a, ka, ea in _MODIFIERS for w, kw, ew in words]
        for pool in self.pools.values():
            rng.shuffle(pool)
        self.used = {name: 0 for name in self.pools}
        self.slugs: set[str] = set()

    def draw(self, genre: str, english_title: bool) -> tuple[str, str, str, str]:
        """Return (title, title_kana, English title, unique slug)."""
        name = genre if genre in self.pools else "generic"
        pool, count = self.pools[name], self.used[name]
        self.used[name] += 1
        title, kana, english = pool[count % len(pool)]
        english = english.replace("-", " ")
        if count >= len(pool):
            sequel = count // len(pool) + 1
            title, kana, english = f"{title}{sequel}", f"{kana}{sequel}", f"{english} {sequel}"
        if english_title and "・" in title:
            title = english
        slug = base = re.sub(r"[^a-z0-9]+", "-", english.lower()).strip("-")
        suffix = 2
        while slug in self.slugs:
            slug, suffix = f"{base}-{suffix}", suffix + 1
        self.slugs.add(slug)
        return title, kana, english, slug


class _Ids:
    """ULIDs from the program's generator: same seed, same ids."""

    def __init__(self, rng: random.Random, index: int):
        self.rng, self.ms = rng, ID_EPOCH_MS + index * 3_600_000

    def __call__(self) -> str:
        self.ms += 1
        return str(ULID.from_bytes(self.ms.to_bytes(6, "big") + self.rng.randbytes(10)))


def _clear(moment: datetime, reference: datetime) -> datetime:
    """Move a boundary out of the guard window around the reference instant."""
    if reference - GUARD_BEFORE < moment < reference + GUARD_AFTER:
        return reference - GUARD_BEFORE if moment < reference else reference + GUARD_AFTER
    return moment


def _program_add(content: DemoContent, rng: random.Random, index: int, titles: _Titles, reference: datetime):
    kind = _kind(rng, index)
    genre = rng.choice(domain.GENRES)
    title, kana, english, slug = titles.draw(genre, english_title=rng.random() < 0.3)
    new_id = _Ids(rng, index)
    cast = [rng.choice(_FAMILY) + g for g in rng.sample(_GIVEN, rng.randint(3, 6))]
    words = _words(rng, cast)
    style = "story" if genre in _STORY_GENRES else genre
    description = _DESCRIPTIONS[style].format(label=_DESCRIPTION_LABELS[genre], **words)
    if title != english:
        description += f"（英題：{english}）"
    midnight = reference.astimezone(JST).replace(hour=0)
    slot = rng.choice(_SLOTS)

    def airtime(day: int) -> datetime:
        return _clear((midnight + timedelta(days=day, minutes=slot)).astimezone(UTC), reference)

    seasons_range, episodes_range, interval, _durations = _SHAPES[genre]
    counts = [rng.randint(*episodes_range) for _ in range(rng.randint(*seasons_range))]
    starts = _season_starts(rng, kind, counts, interval)
    program = domain.Program(
        id=new_id(),
        slug=slug,
        title=title,
        title_kana=kana,
        description=description,
        genre=genre,
        sort_order=(index + 1) * 10,
        status=domain.DRAFT if kind == "draft" else domain.PUBLISHED,
        publish_at=airtime(starts[0]) if kind != "draft" or rng.random() < 0.5 else None,
        updated_at=reference,
        updated_by=AUTHOR,
    )
    if kind == "expired":
        program.expire_at = _clear(midnight.astimezone(UTC) - timedelta(days=rng.randint(1, 45)), reference)
    elif kind == "ending":
        program.expire_at = _clear(midnight.astimezone(UTC) + timedelta(days=rng.randint(3, 60)), reference)
    content.programs.append(program)
    tags = [GENRE_LABELS[genre], *rng.sample(_TAGS, rng.randint(0, 2))]
    for number, (start, count) in enumerate(zip(starts, counts, strict=True), 1):
        season = domain.Season(
            id=new_id(),
            program_id=program.id,
            title=_season_title(genre, number, airtime(start)),
            sort_order=number * 10,
            status=program.status,
            updated_at=reference,
            updated_by=AUTHOR,
        )
        if start > 0 and kind in ("live", "ending"):
            season.publish_at = airtime(start)  # an announced next season
        content.seasons.append(season)
        for n in range(1, count + 1):
            content.episodes.append(
                _episode(rng, new_id, program, season, number, n, airtime(start + (n - 1) * interval), tags, cast)
            )
        _drafts_and_expiry(rng, content.episodes[-count:], genre, kind, reference)


def _season_starts(rng: random.Random, kind: str, counts: list[int], interval: int) -> list[int]:
    """Day offsets (from the reference day) of each season's first airtime, oldest first."""
    last = counts[-1]
    if kind in ("scheduled", "draft"):
        first = rng.randint(1, 14) if kind == "scheduled" else rng.randint(15, 90)
        starts = [first]
        for previous in counts[:-1]:
            starts.append(starts[-1] + previous * interval + 7 * rng.randint(4, 12))
        return starts
    if kind == "expired":
        final = -rng.randint(60, 400) - (last - 1) * interval
    elif rng.random() < 0.35 and last > 1:
        aired = rng.randint(1, last - 1)  # on air now: some episodes are still to come
        final = -rng.randint(1, max(interval, 1)) - (aired - 1) * interval
    elif len(counts) > 1 and rng.random() < 0.2:
        final = rng.randint(7, 60)  # the next season is announced
    else:
        final = -rng.randint(3, 200) - (last - 1) * interval
    starts = [final]
    for count in reversed(counts[:-1]):
        gap = 1 if interval == 1 else 7 * rng.randint(8, 26)
        starts.insert(0, starts[0] - gap - (count - 1) * interval)
    return starts


def _words(rng: random.Random, cast: list[str]) -> dict[str, str]:
    a, b = rng.sample(cast, 2)
    team_a, team_b = rng.sample(_TEAMS, 2)
    return {
        "a": a,
        "b": b,
        "place": rng.choice(_PLACES),
        "thing": rng.choice(_THINGS),
        "team_a": team_a,
        "team_b": team_b,
    }


def _season_title(genre: str, number: int, first_airtime: datetime) -> str:
    if genre in ("news", "variety", "sports", "music"):
        return f"{first_airtime.astimezone(JST).year}年シリーズ（第{number}期）"
    if genre == "movie":
        return "本編"
    return f"第{number}期" if genre == "anime" else f"シーズン{number}"


def _episode(rng, new_id, program, season, season_number, n, publish_at, tags, cast) -> domain.Episode:
    genre = program.genre
    local = publish_at.astimezone(JST)
    if genre == "news":
        title = f"{local.year}年{local.month}月{local.day}日放送"
    elif genre == "sports":
        team_a, team_b = rng.sample(_TEAMS, 2)
        title = f"第{n}節 {team_a} vs {team_b}"
    elif genre == "movie":
        title = program.title if n == 1 else f"特典映像{n - 1}"
    else:
        title = (
            f"第{n}話「{rng.choice(_SUBTITLES)}」"
            if genre in _STORY_GENRES
            else f"#{n} {rng.choice(_SHOW_SUBTITLES[genre])}"
        )
    low, high = _SHAPES[genre][3]
    minutes = rng.randint(5, 20) if genre == "movie" and n > 1 else rng.randint(low // 60, high // 60)
    return domain.Episode(
        id=new_id(),
        program_id=program.id,
        season_id=season.id,
        number=n,
        title=title,
        synopsis=_synopsis(rng, genre, cast),
        duration_s=minutes * 60,
        video_url=f"https://stream.airtime.example/hls/{program.slug}/s{season_number:02d}e{n:03d}/master.m3u8",
        tags=list(tags),
        cast=rng.sample(cast, min(len(cast), rng.randint(2, 4))),
        status=season.status,
        publish_at=publish_at,
        updated_at=program.updated_at,
        updated_by=AUTHOR,
    )


def _synopsis(rng: random.Random, genre: str, cast: list[str]) -> str:
    bank = _SENTENCES["story" if genre in _STORY_GENRES else genre]
    target = rng.randint(*SYNOPSIS_CHARS)
    text = ""
    for sentence in rng.sample(bank, len(bank)):
        text += sentence.format(**_words(rng, cast))
        if len(text) >= target:
            break
    return text


def _drafts_and_expiry(rng, episodes: list[domain.Episode], genre: str, kind: str, reference: datetime) -> None:
    """Mark unfinished future episodes as drafts and let catch-up episodes expire."""
    future = [e for e in episodes if e.publish_at > reference]
    if kind in ("live", "ending") and future and rng.random() < 0.5:
        for episode in future[-rng.randint(1, min(2, len(future))) :]:
            episode.status = domain.DRAFT
    if genre == "news":
        # NOTE: news stays available for 90 days after airing, so old bulletins drop out.
        for episode in episodes:
            episode.expire_at = _clear(episode.publish_at + timedelta(days=90), reference)
