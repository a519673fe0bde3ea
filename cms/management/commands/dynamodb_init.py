"""Create the content tables and their indexes."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cms.store.counters import counters_recount
from cms.store.errors import STORE_FAILURES
from cms.store.tables import tables_create


class Command(BaseCommand):
    help = "Create every missing DynamoDB table and index; running it again changes nothing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--recount",
            action="store_true",
            help=_("count every program's and season's children again (only while nobody edits)"),
        )

    def handle(self, *args, recount, **options):
        try:
            created = tables_create()
            counted = counters_recount() if recount else None
        except STORE_FAILURES as exc:
            raise CommandError(_("Cannot create the tables: %(error)s") % {"error": exc}) from exc
        for name in created:
            self.stdout.write(_("Created %(name)s.") % {"name": name})
        if not created:
            self.stdout.write(_("All tables and indexes exist already."))
        if counted is not None:
            self.stdout.write(_("Counted the children of %(count)d programs and seasons.") % {"count": counted})
