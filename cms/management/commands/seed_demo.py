"""Fill the content tables with deterministic demo programs, seasons and episodes."""

import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cms.demo import demo_generate, hour_floor
from cms.management.messages import clash_message
from cms.management.program_list import program_list_sync
from cms.store.bulk import content_put_many
from cms.store.errors import STORE_FAILURES, Clash, NotUnique
from cms.store.tables import tables_truncate

PROGRESS_STEP = 0.1


class Command(BaseCommand):
    help = (
        "Write demo content generated from --seed. Times are relative to now floored to the hour "
        "(or to --now), so the same seed gives identical content within one clock hour; no item "
        "goes live or expires within two hours of that instant."
    )

    def add_arguments(self, parser):
        parser.add_argument("--programs", type=int, default=12, help=_("number of programs (default 12)"))
        parser.add_argument("--seed", type=int, default=1, help=_("random seed (default 1)"))
        parser.add_argument("--now", type=datetime.fromisoformat, help=_("reference time, ISO 8601 with offset"))
        parser.add_argument("--reset", action="store_true", help=_("delete every content item first"))
        parser.add_argument("--replace", action="store_true", help=_("overwrite demo items that exist already"))

    def handle(self, *args, programs, seed, now, reset, replace, **options):
        if programs < 0:
            raise CommandError(_("--programs cannot be negative."))
        if now is not None and now.tzinfo is None:
            raise CommandError(_("--now needs a UTC offset, e.g. 2026-11-26T23:00:00+09:00."))
        started = time.monotonic()
        content = demo_generate(seed=seed, programs=programs, now=now)
        self.stdout.write(
            _(
                "Generated %(programs)d programs, %(seasons)d seasons, %(episodes)d episodes "
                "(seed %(seed)d, times relative to %(reference)s)."
            )
            % {
                "programs": len(content.programs),
                "seasons": len(content.seasons),
                "episodes": len(content.episodes),
                "seed": seed,
                "reference": hour_floor(now).isoformat(),
            }
        )
        try:
            if reset:
                self.stdout.write(_("Deleted %(count)d existing items.") % {"count": tables_truncate()})
            written = content_put_many(
                content.programs,
                content.seasons,
                content.episodes,
                progress=self._progress_reporter(),
                replace=replace,
            )
        except Clash as exc:
            advice = _("Run again with --replace to overwrite them, or with --reset to start over.")
            raise CommandError(clash_message(exc, advice)) from exc
        except NotUnique as exc:
            raise CommandError(
                _("Demo content clashes with existing content (%(field)s already taken); run again with --reset.")
                % {"field": exc.field}
            ) from exc
        except STORE_FAILURES as exc:
            raise CommandError(_("Cannot write the demo content: %(error)s") % {"error": exc}) from exc
        self.stdout.write(
            _("Done: %(count)d items written in %(seconds).1f s.")
            % {"count": written, "seconds": time.monotonic() - started}
        )
        program_list_sync(self)

    def _progress_reporter(self):
        """Report roughly every tenth of the work, so large seeds show they are moving."""
        next_report = 0.0

        def report(done: int, total: int) -> None:
            nonlocal next_report
            share = done / total if total else 1.0
            if done >= total or share >= next_report:
                self.stdout.write(
                    _("Written %(done)d of %(total)d items (%(percent)d%%).")
                    % {"done": done, "total": total, "percent": int(100 * share)}
                )
                next_report = share + PROGRESS_STEP

        return report
