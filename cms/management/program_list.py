"""The program list after a bulk write: brought up to date, or a warning that the sweep will do it."""

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils.translation import gettext as _

from cms import services
from cms.store.errors import STORE_FAILURES


def synced_text(counts: tuple[int, int, int]) -> str:
    """One line saying how the program list changed."""
    added, changed, removed = counts
    return _("Program list synced: %(added)d added, %(changed)d changed, %(removed)d removed.") % {
        "added": added,
        "changed": changed,
        "removed": removed,
    }


def program_list_sync(command: BaseCommand) -> None:
    """Sync the program list after `command` wrote content; the content stays written if that fails."""
    try:
        counts = services.program_index_sync()
    except (*STORE_FAILURES, DatabaseError) as exc:
        command.stderr.write(
            _("The program list was not updated (%(error)s); the sweep will bring it up to date within minutes.")
            % {"error": exc}
        )
    else:
        command.stdout.write(synced_text(counts))
