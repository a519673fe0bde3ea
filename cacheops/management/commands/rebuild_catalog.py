from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cacheops.backends.base import CacheError
from cacheops.build import operations
from cacheops.cli import (
    family_checked,
    follow_hint,
    operation_failed,
    operation_line,
    schedule_asked,
    schedule_report,
    task_wait,
    timeout_checked,
    wait_arguments,
)
from cacheops.errors import FutureAsOf, PublishError
from cms.enqueue import task_send


def _iso_parse(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            _("--as-of %(value)s is not an ISO 8601 time like 2026-11-26T14:45:00Z.") % {"value": repr(value)}
        ) from None
    if parsed.tzinfo is None:
        raise CommandError(
            _("--as-of %(value)s needs a time zone, e.g. 2026-11-26T14:45:00Z.") % {"value": repr(value)}
        )
    return parsed


def as_of_parse(value: str | None) -> datetime | None:
    """Parse --as-of (ISO 8601 with a zone, not in the future) or raise CommandError."""
    if not value:
        return None
    try:
        return operations.as_of_check(_iso_parse(value))
    except FutureAsOf as exc:
        raise CommandError(
            _("%(option)s %(text)s refused: %(error)s")
            % {"option": "--as-of", "text": repr(value), "error": exc.text()}
        ) from None


def future_as_of(value: str | None) -> datetime | None:
    """The --as-of instant if it lies in the future (an airtime to stage), else None."""
    if not value:
        return None
    parsed = _iso_parse(value)
    try:
        operations.as_of_check(parsed)
    except FutureAsOf:
        return parsed
    return None


class Command(BaseCommand):
    help = "Rebuild a cached family (catalog or program:<id>), queued (followed with --wait) or right here with --sync."

    def add_arguments(self, parser):
        parser.add_argument(
            "--family",
            default="catalog",
            help=_("the family to rebuild: catalog (default) or program:<id> of an existing program"),
        )
        parser.add_argument(
            "--as-of",
            dest="as_of",
            help=_("ISO 8601 instant the snapshot shows (default: now); a future one is prepared and staged for then"),
        )
        parser.add_argument("--sync", action="store_true", help=_("build in this process, no queue, no folding"))
        parser.add_argument("--full", action="store_true", help=_("re-read every program (repair)"))
        wait_arguments(
            parser,
            _("follow the queued rebuild a line per change of its progress until it ends (exit 1 if it fails)"),
        )

    def handle(self, *, family, as_of, sync, full, wait, timeout, **options):
        family_checked(family)
        if wait:
            timeout_checked(timeout)
        if (future := future_as_of(as_of)) is not None:
            if wait:
                raise CommandError(_("--wait follows a queued rebuild, not an airtime scheduled by a future --as-of."))
            self.airtime(family, as_of, future, sync)
            return
        when = as_of_parse(as_of)
        if not sync:
            self.queued(family, when, full, timeout if wait else None)
            return
        if wait:
            raise CommandError(_("--wait follows a queued rebuild; with --sync it runs here and ends first."))
        try:
            op = operations.family_rebuild(family=family, as_of=when, requested_by="cli", full=full)
        except (PublishError, CacheError) as exc:
            raise CommandError(operation_failed("rebuild", family, exc)) from None
        self.stdout.write(operation_line(op))

    def queued(self, family: str, when: datetime | None, full: bool, timeout: float | None) -> None:
        """Send the rebuild to a worker; follow it to its end if `timeout` is given, else say how to follow it."""
        try:
            result = task_send(
                operations.REBUILD_TASK,
                family,
                as_of=when.isoformat() if when else None,
                requested_by="cli",
                full=full,
            )
        except Exception as exc:
            message = _("Could not queue the rebuild of %(family)s (%(error)s); try --sync.")
            raise CommandError(message % {"family": family, "error": exc}) from None
        queued = _("Queued the rebuild of %(family)s as task %(task)s.")
        self.stdout.write(queued % {"family": family, "task": result.id})
        if timeout is None:
            self.stdout.write(follow_hint(family))
            return
        task_wait(self, result, family, timeout)

    def airtime(self, family: str, text: str, at: datetime, sync: bool) -> None:
        """Schedule the future instant like `prewarm --at`: prepared here with --sync, else by a worker."""
        schedule = schedule_asked("--as-of", family, text, at, prepare_here=sync)
        schedule.refresh_from_db()
        schedule_report(self, schedule)
