import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cacheops.backends.base import CacheError
from cacheops.build import operations
from cacheops.cli import (
    PREWARM_TASK,
    family_checked,
    operation_failed,
    operation_line,
    schedule_asked,
    schedule_report,
    task_wait,
    timeout_checked,
    wait_arguments,
)
from cacheops.errors import PublishError
from cms.enqueue import task_send

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Build if needed, read-verify every chunk and refresh TTLs (here, or on a worker with --wait); or, with "
        "--at, prepare a coming airtime."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--family",
            default="catalog",
            help=_("the family to prewarm: catalog (default) or program:<id> of an existing program"),
        )
        parser.add_argument(
            "--at", help=_('airtime in JST, e.g. "2026-11-26 25:30": build, verify and stage the catalog ahead')
        )
        wait_arguments(
            parser,
            _(
                "send the prewarm to a worker, as the console's button does, and follow it a line per change until "
                "it ends (exit 1 if it fails); without it, the prewarm runs in this process"
            ),
        )

    def handle(self, *, family, at, wait, timeout, **options):
        if at is not None:
            if wait:
                raise CommandError(_("--wait follows a prewarm sent to a worker; --at prepares the airtime here."))
            self.airtime(family, at)
            return
        family_checked(family)
        if wait:
            self.queued(family, timeout_checked(timeout))
            return
        try:
            op = operations.prewarm(family=family, requested_by="cli", progress=self.progress)
        except (PublishError, CacheError) as exc:
            raise CommandError(operation_failed("prewarm", family, exc)) from None
        self.stdout.write("")
        self.stdout.write(operation_line(op, timed=True))

    def queued(self, family: str, timeout: float) -> None:
        try:
            result = task_send(PREWARM_TASK, family=family, requested_by="cli")
        except Exception as exc:
            raise CommandError(
                _("Could not send the prewarm of %(family)s to a worker (%(error)s); run it here without --wait.")
                % {"family": family, "error": exc}
            ) from None
        self.stdout.write(_("%(family)s: prewarm sent as task %(task)s") % {"family": family, "task": result.id})
        task_wait(self, result, family, timeout)

    def airtime(self, family: str, text: str) -> None:
        schedule = schedule_asked("--at", family, text, prepare_here=True, progress=self.progress)
        self.stdout.write("")
        schedule_report(self, schedule)

    def progress(self, stage: str, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        self.stdout.write(f"\r{stage:<8} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}", ending="")
        sys.stdout.flush()
