"""Admin changelist latency over the seeded catalog, against a raw index Query of one page.

.venv/bin/python bench/admin_changelist.py [--programs 360] [--profile]
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from environment import arguments, bench_environment, header, percentile, profile, timed

RUNS = 30
WARMUPS = 3
PAGE_SIZE = 50
PAGES_FOLLOWED = 5
GOAL_P50_MS = 200.0
# Episode titles of story genres read 第N話「…」: the prefix matches the first episode and 第10話 onwards.
SEARCH_PREFIX = "第1話"
NEXT_LINK = re.compile(r'<a class="next-page" href="([^"]+)"')


def _rows(body: str, model: str) -> int:
    return len(re.findall(rf'href="/admin/cms/{model}/[^/"]+/change/"', body))


def main() -> None:
    args = arguments("Time the episode and program changelists of the admin.").parse_args()
    with bench_environment(args.programs) as bench:
        header("admin changelist", bench)
        run(args)


def run(args) -> None:
    import boto3
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

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
    first = get(episodes)
    later, body = episodes, first
    for hop in range(PAGES_FOLLOWED):
        match = NEXT_LINK.search(body)
        if match is None:
            raise SystemExit(f"no next-page link after {hop} pages: seed more programs")
        later = episodes + html.unescape(match.group(1))
        body = get(later)
    search = f"{episodes}?q={quote(SEARCH_PREFIX)}"
    search_rows = _rows(get(search), "episode")
    if not search_rows:
        raise SystemExit(f"the search {SEARCH_PREFIX!r} matched no episode")

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )

    def raw_query():
        answer = dynamodb.query(
            TableName=EpisodeItem.Meta.table_name,
            IndexName="by_order",
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":k": {"S": "episode"}},
            Limit=PAGE_SIZE,
        )
        if len(answer["Items"]) != PAGE_SIZE:
            raise SystemExit("the raw query returned a short page")

    cases = [
        ("baseline: boto3 query, 50 items, episodes/by_order", raw_query),
        ("episode changelist, first page", lambda: get(episodes)),
        (f"episode changelist, page {PAGES_FOLLOWED + 1} (cursor)", lambda: get(later)),
        (f"episode changelist, search q={SEARCH_PREFIX} ({search_rows} rows)", lambda: get(search)),
        ("program changelist, first page", lambda: get("/admin/cms/program/")),
    ]
    print(f"{RUNS} timed runs after {WARMUPS} warm-ups per case; times in ms")
    print(f"{'case':<58} {'p50':>8} {'p95':>8} {'x base':>7}  goal p50<={GOAL_P50_MS:.0f}")
    baseline_p50 = None
    for label, fn in cases:
        samples = [s * 1000 for s in timed(fn, runs=RUNS, warmups=WARMUPS)]
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        if baseline_p50 is None:
            baseline_p50 = p50
            print(f"{label:<58} {p50:8.1f} {p95:8.1f} {'1.0':>7}")
            continue
        verdict = "PASS" if p50 <= GOAL_P50_MS else "MISS"
        print(f"{label:<58} {p50:8.1f} {p95:8.1f} {p50 / baseline_p50:7.1f}  {verdict}")

    if args.profile:
        for label, fn in cases[1:]:
            profile(fn, label=label)


if __name__ == "__main__":
    main()
