import sys

from django.core.management.base import BaseCommand, CommandError

from cacheops.backends.base import CacheError
from cacheops.build import operations
from cacheops.errors import PublishError
from cacheops.release import airtime
from cms.broadcast import clock_format

BAR_WIDTH = 30


def schedule_asked(option: str, family: str, text: str, at=None, *, prepare_here: bool, progress=None):
    """Record the airtime `option` asks for (`text` in JST, or the instant `at`), and prepare it here if told.

    Raise CommandError naming the option for another family or an airtime the schedule refuses.
    """
    if family != "catalog":
        raise CommandError(f"{option} {text!r} refused: only the catalog is staged for an airtime, not {family!r}")
    try:
        schedule = airtime.schedule_prewarm(at or airtime.at_parse(text), "cli", send=not prepare_here)
    except airtime.ScheduleRefused as exc:
        raise CommandError(f"{option} {text!r} refused: {exc}") from None
    if not prepare_here:
        return schedule
    return airtime.prepare(schedule.id, progress=progress) or schedule


def schedule_report(command: BaseCommand, schedule) -> None:
    """Print what preparing an airtime schedule left: its version, size, changes and edge warming."""
    when = clock_format(schedule.at)
    if schedule.result == schedule.FAILED:
        raise CommandError(f"airtime {when} JST (schedule {schedule.id}) recorded, but {schedule.detail}")
    if not schedule.prepared_version:
        command.stdout.write(f"airtime {when} JST scheduled (schedule {schedule.id}); preparing in the background")
        return
    command.stdout.write(
        f"airtime {when} JST prepared (schedule {schedule.id}): {schedule.prepared_version}, "
        f"{schedule.compressed_bytes} bytes in {schedule.chunk_count} chunks"
    )
    for kind in ("programs", "episodes"):
        counts = {change: part["count"] for change, part in schedule.changes[kind].items()}
        command.stdout.write(f"  {kind}: +{counts['added']} -{counts['removed']} ~{counts['changed']}")
        for item in schedule.changes[kind]["added"]["items"]:
            command.stdout.write(f"    + {item.get('program_title', '')} {item['title']}".rstrip())
    if schedule.edge:
        warmed = sum(entry["ok"] for entry in schedule.edge)
        command.stdout.write(f"  edge: {warmed}/{len(schedule.edge)} chunks warmed")


class Command(BaseCommand):
    help = "Build if needed, read-verify every chunk and refresh TTLs; or, with --at, prepare a coming airtime."

    def add_arguments(self, parser):
        parser.add_argument("--family", default="catalog")
        parser.add_argument("--at", help='airtime in JST, e.g. "2026-11-26 25:30": build, verify and stage it ahead')

    def handle(self, *, family, at, **options):
        if at is not None:
            self.airtime(family, at)
            return
        try:
            op = operations.prewarm(family=family, requested_by="cli", progress=self.progress)
        except (PublishError, CacheError) as exc:
            raise CommandError(f"prewarm of {family} failed: {exc}") from None
        self.stdout.write("")
        self.stdout.write(f"{family}: {op.result} {op.version_after} in {op.duration_ms} ms")

    def airtime(self, family: str, text: str) -> None:
        schedule = schedule_asked("--at", family, text, prepare_here=True, progress=self.progress)
        self.stdout.write("")
        schedule_report(self, schedule)

    def progress(self, stage: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        self.stdout.write(f"\r{stage:<8} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}", ending="")
        sys.stdout.flush()
