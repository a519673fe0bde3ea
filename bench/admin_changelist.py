"""Admin changelist latency and DynamoDB requests per page, each against the identical raw boto3 queries.

.venv/bin/python bench/admin_changelist.py [--programs 360] [--pickers 5000] [--profile]
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

from environment import arguments, bench_environment, header, percentile, profile, timed

RUNS = 30
WARMUPS = 3
PAGE_SIZE = 50
PAGES_FOLLOWED = 5
GOAL_RATIO = 1.5
MAX_REQUESTS = 2
# Episode titles of story genres read 第N話「…」: the prefix matches the first episode and 第10話 onwards.
SEARCH_PREFIX = "第1話"
PICKER_TERM = "さ"


def main() -> None:
    parser = arguments("Time the admin's changelists and program picker; count their DynamoDB requests.")
    parser.add_argument("--pickers", type=int, default=5000, help="programs in the picker's table (default 5000)")
    args = parser.parse_args()
    with bench_environment(args.programs) as bench:
        header("admin changelist", bench)
        run(args)


def _timed_pairs(app, raw) -> tuple[list[float], list[float]]:
    """Time `raw` and `app` alternately (ms), so that both see the same moments of a noisy machine."""
    for _ in range(WARMUPS):
        raw(), app()
    pairs = [(timed(raw, runs=1)[0] * 1000, timed(app, runs=1)[0] * 1000) for _ in range(RUNS)]
    return [app_ms for _raw, app_ms in pairs], [raw_ms for raw_ms, _app in pairs]


def run(args) -> None:
    import boto3
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core import signing
    from django.test import Client

    from cms import selectors
    from cms.store.metering import requests_counted
    from cms.store.models import EpisodeItem

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password")
    client = Client()
    client.force_login(user)

    def get(url: str) -> str:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        return response.content.decode()

    episodes = "/admin/cms/episode/"
    later = episodes
    body = get(episodes)
    for hop in range(PAGES_FOLLOWED):
        start = body.find('<a class="next-page" href="')
        if start < 0:
            raise SystemExit(f"no next-page link after {hop} pages: seed more programs")
        href = body[start + len('<a class="next-page" href="') :].split('"', 1)[0].replace("&amp;", "&")
        later = episodes + href
        body = get(later)
    cursor = parse_qs(urlsplit(later).query)["cursor"][0]
    page_start = signing.loads(cursor, salt=selectors.CURSOR_SALT)["at"]
    search = f"{episodes}?q={quote(SEARCH_PREFIX)}"

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )

    def raw_query(index: str, condition: str, values: dict, start: dict | None = None):
        """The two Queries the changelist makes: page size + 1 items from `start`, and the list's count."""
        params = {
            "TableName": EpisodeItem.Meta.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": "kind"} | ({"#t": "title_norm"} if "#t" in condition else {}),
            "ExpressionAttributeValues": values,
            "Limit": PAGE_SIZE + 1,
        }
        if start:
            params["ExclusiveStartKey"] = start

        count = {k: v for k, v in params.items() if k not in ("Limit", "ExclusiveStartKey")}
        count |= {"Select": "COUNT", "Limit": settings.ADMIN_LIST_COUNT_MAX}

        def query():
            answer = dynamodb.query(**params)
            if len(answer["Items"]) != PAGE_SIZE + 1:
                raise SystemExit(f"the raw {index} query returned {len(answer['Items'])} items")
            dynamodb.query(**count)

        return query

    kind = {":k": {"S": "episode"}}
    prefix = {":k": {"S": "episode"}, ":p": {"S": selectors._prefix(SEARCH_PREFIX)}}
    cases = [
        ("episode changelist, first page", episodes, raw_query("by_order", "#k = :k", kind)),
        (
            f"episode changelist, page {PAGES_FOLLOWED + 1} (cursor)",
            later,
            raw_query("by_order", "#k = :k", kind, page_start),
        ),
        (
            f"episode changelist, search q={SEARCH_PREFIX}",
            search,
            raw_query("by_title", "#k = :k AND begins_with(#t, :p)", prefix),
        ),
    ]
    print(f"{RUNS} timed runs after {WARMUPS} warm-ups, raw query and page alternately; times in ms")
    print(
        f"{'case':<44} {'requests':>9} {'p50':>7} {'p95':>7} {'raw p50':>8} {'ratio':>6}"
        f"  goal <={MAX_REQUESTS} requests, <={GOAL_RATIO}x"
    )
    for label, url, raw in cases:
        with requests_counted() as counts:
            get(url)
        requests = sum(counts.values())
        app_ms, raw_ms = _timed_pairs(lambda url=url: get(url), raw)
        ratio = percentile(app_ms, 0.5) / percentile(raw_ms, 0.5)
        verdict = "PASS" if ratio <= GOAL_RATIO and requests <= MAX_REQUESTS else "MISS"
        print(
            f"{label:<44} {requests:>9} {percentile(app_ms, 0.5):7.1f} {percentile(app_ms, 0.95):7.1f}"
            f" {percentile(raw_ms, 0.5):8.1f} {ratio:6.2f}  {verdict}  {dict(counts)}"
        )

    # Status is a filter expression (no index holds it): the Query then reads up to 1 MB, without a Limit.
    for status in ("draft", "published"):
        with requests_counted() as counts:
            get(f"{episodes}?status={status}")
        requests = sum(counts.values())
        verdict = "PASS" if requests <= MAX_REQUESTS else "MISS"
        label = f"episode changelist, status={status}"
        print(f"{label:<44} {requests:>9}  goal <={MAX_REQUESTS} requests  {verdict}  {dict(counts)}")

    programs_lists = [
        ("program changelist, first page", "/admin/cms/program/", 1),
        ("program changelist, title (gojuon) order", "/admin/cms/program/?o=title", 1),
        ("program changelist, search title or reading", f"/admin/cms/program/?q={quote(PICKER_TERM)}", 3),
    ]
    for label, url, allowed in programs_lists:
        with requests_counted() as counts:
            get(url)
        requests = sum(counts.values())
        verdict = "PASS" if requests <= allowed else "MISS"
        print(f"{label:<44} {requests:>9}  goal <={allowed} requests  {verdict}  {dict(counts)}")

    pickers(args.pickers, get)

    if args.profile:
        for label, url, _raw in cases:
            profile(lambda url=url: get(url), label=label)


def pickers(count: int, get) -> None:
    """The program picker with `count` programs in its table: requests, options sent and time."""
    from cms import domain, program_index
    from cms.models import ProgramEntry
    from cms.store.metering import requests_counted

    kana = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"
    # Rows only: the picker reads the SQL table, never the content store.
    ProgramEntry.objects.bulk_create(
        program_index.entry_for(
            domain.Program(
                id=f"BENCH{n:021d}",
                slug=f"bench-{n}",
                title=f"作品{n:05d}",
                title_kana=f"{kana[n % len(kana)]}{kana[n // len(kana) % len(kana)]}{n:05d}",
                status="published",
                version=1,
            )
        )
        for n in range(max(count - ProgramEntry.objects.count(), 0))
    )
    pages = [
        ("season add form", "/admin/cms/season/add/"),
        ("episode add: choose a program", "/admin/cms/episode/add/"),
        ("episode changelist (program filter)", "/admin/cms/episode/"),
        (f"picker search term={PICKER_TERM}", f"/admin/cms/program/autocomplete/?term={quote(PICKER_TERM)}"),
    ]
    print(f"\nprogram picker with {count} programs in the SQL table")
    print(f"{'page':<44} {'requests':>9} {'options':>8} {'p50':>7} {'p95':>7}")
    for label, url in pages:
        with requests_counted() as counts:
            body = get(url)
        samples = [s * 1000 for s in timed(lambda url=url: get(url), runs=RUNS, warmups=WARMUPS)]
        options = body.count("<option") if not url.startswith("/admin/cms/program/autocomplete") else body.count('"id"')
        print(
            f"{label:<44} {sum(counts.values()):>9} {options:>8} {percentile(samples, 0.5):7.1f}"
            f" {percentile(samples, 0.95):7.1f}"
        )


if __name__ == "__main__":
    main()
