"""Write every content item to a JSON lines file."""

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cms.store.errors import STORE_FAILURES
from cms.store.tables import items_dump


class Command(BaseCommand):
    help = "Dump every item of every content table to PATH, one JSON object per line, sorted."

    def add_arguments(self, parser):
        parser.add_argument("path", help=_("file to write; replaced only once the dump is complete"))

    def handle(self, *args, path, **options):
        target = Path(path)
        try:
            count = _dump_replace(target)
        except OSError as exc:
            raise CommandError(_("Cannot write %(path)s: %(error)s") % {"path": path, "error": exc.strerror}) from exc
        except STORE_FAILURES as exc:
            raise CommandError(_("Cannot read the content tables: %(error)s") % {"error": exc}) from exc
        self.stdout.write(_("Dumped %(count)d items to %(path)s.") % {"count": count, "path": path})


def _dump_replace(target: Path) -> int:
    """Dump into a file beside `target`, then rename it, so a failed dump leaves no partial file."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with open(handle, "w", encoding="utf-8") as out:
            count = items_dump(out)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
    return count
