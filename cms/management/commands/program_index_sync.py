"""Bring the SQL program list the pickers read up to date with the content store."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cms import services
from cms.management.program_list import synced_text
from cms.store.errors import STORE_FAILURES


class Command(BaseCommand):
    help = "Make the SQL program list match the programs in the content store, and say what changed."

    def handle(self, *args, **options):
        try:
            counts = services.program_index_sync()
        except STORE_FAILURES as exc:
            message = _("Cannot read the programs from the content store: %(error)s") % {"error": exc}
            raise CommandError(message) from exc
        self.stdout.write(synced_text(counts))
