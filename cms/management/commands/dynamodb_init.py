"""Create the content tables and their indexes."""

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from pynamodb.exceptions import PynamoDBException

from cms.store.tables import tables_create


class Command(BaseCommand):
    help = "Create every missing DynamoDB table and index; running it again changes nothing."

    def handle(self, *args, **options):
        try:
            created = tables_create()
        except (BotoCoreError, ClientError, PynamoDBException) as exc:
            raise CommandError(_("Cannot create the tables: %(error)s") % {"error": exc}) from exc
        for name in created:
            self.stdout.write(_("Created %(name)s.") % {"name": name})
        if not created:
            self.stdout.write(_("All tables and indexes exist already."))
