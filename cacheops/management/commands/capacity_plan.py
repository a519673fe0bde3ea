import json
import math
from dataclasses import asdict

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from cacheops.backends.base import CacheError
from cacheops.capacity.inputs import PROCESS_RPS, inputs_read
from cacheops.capacity.plan import plan_make
from cacheops.capacity.text import plan_text
from cacheops.errors import NothingPublished


def _number(option: str, value: float, low: float, high: float = math.inf, *, low_included: bool = True) -> float:
    """`value`, or CommandError naming `option` when it is not a number in [low, high] (or (low, high])."""
    inside = low <= value <= high if low_included else low < value <= high
    if not (math.isfinite(value) and inside):
        lower = "at least" if low_included else "above"
        bounds = f"{lower} {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise CommandError(f"{option} must be {bounds}, not {value:g}")
    return value


class Command(BaseCommand):
    help = (
        "Plan capacity for a traffic: the current catalog's shared-cache operations and bytes (at rest, at a "
        "version change, over the hour) against the cache's limits, the origin with and without the CDN, DynamoDB "
        "reads, the quota raises to ask for and the ways to need less."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rps", type=float, required=True, help="viewer requests per second at the peak")
        parser.add_argument("--processes", type=int, required=True, help="web processes (gunicorn workers) in all")
        parser.add_argument(
            "--cdn-hit", type=float, default=0.98, help="share of requests the CDN answers (0 to 1, default 0.98)"
        )
        parser.add_argument(
            "--changes-per-hour",
            type=float,
            default=30,
            help="catalog versions published an hour (saves during a build fold into one; default 30)",
        )
        parser.add_argument(
            "--process-rps",
            type=float,
            help=f"catalogs one web process serves a second (default {PROCESS_RPS}, measured: README, Serving)",
        )
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the plan as one JSON document")

    def handle(self, *, rps, processes, cdn_hit, changes_per_hour, process_rps, as_json, **options):
        _number("--rps", rps, 0)
        _number("--processes", processes, 1)
        _number("--cdn-hit", cdn_hit, 0, 1)
        _number("--changes-per-hour", changes_per_hour, 0)
        if process_rps is not None:
            _number("--process-rps", process_rps, 0, low_included=False)
        traffic = {"rps": rps, "processes": processes, "cdn_hit": cdn_hit, "changes_per_hour": changes_per_hour}
        try:
            inputs = inputs_read(**traffic, process_rps=process_rps)
        except (NothingPublished, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        except CacheError as exc:
            raise CommandError(f"cannot read the cache: {exc}") from None
        plan = plan_make(inputs)
        if as_json:
            self.stdout.write(json.dumps(asdict(plan), ensure_ascii=False, sort_keys=True))
            return
        self.stdout.write(plan_text(plan), ending="")
