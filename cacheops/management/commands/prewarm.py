import sys

from django.core.management.base import BaseCommand, CommandError

from cacheops import operations
from cacheops.backends.base import CacheError
from cacheops.errors import PublishError

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Build if needed, read-verify every chunk and refresh TTLs before airtime."

    def add_arguments(self, parser):
        parser.add_argument("--family", default="catalog")

    def handle(self, *, family, **options):
        try:
            op = operations.prewarm(family=family, requested_by="cli", progress=self.progress)
        except (PublishError, CacheError) as exc:
            raise CommandError(f"prewarm of {family} failed: {exc}") from None
        self.stdout.write("")
        self.stdout.write(f"{family}: {op.result} {op.version_after} in {op.duration_ms} ms")

    def progress(self, stage: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        self.stdout.write(f"\r{stage:<8} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}", ending="")
        sys.stdout.flush()
