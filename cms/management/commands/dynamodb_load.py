"""Put the items of a dynamodb_dump file back into the content tables."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cms.management.messages import clash_message
from cms.management.program_list import program_list_sync
from cms.store.errors import STORE_FAILURES, Clash, NotUnique
from cms.store.tables import items_load


class Command(BaseCommand):
    help = "Load a file written by dynamodb_dump; a bad line stops the load before anything is written."

    def add_arguments(self, parser):
        parser.add_argument("path", help=_("file written by dynamodb_dump"))
        parser.add_argument("--replace", action="store_true", help=_("overwrite items that exist already"))

    def handle(self, *args, path, replace, **options):
        try:
            with open(path, encoding="utf-8") as source:
                count = items_load(source, replace=replace)
        except OSError as exc:
            raise CommandError(_("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror}) from exc
        except ValueError as exc:
            # items_load parses the whole file first, so nothing was written.
            raise CommandError(
                _("Nothing loaded, %(path)s is not a dump: %(error)s") % {"path": path, "error": exc}
            ) from exc
        except Clash as exc:
            raise CommandError(clash_message(exc, _("Run again with --replace to overwrite them."))) from exc
        except NotUnique as exc:
            raise CommandError(
                _("Nothing loaded: a %(field)s in %(path)s is used by another item already.")
                % {"field": exc.field, "path": path}
            ) from exc
        except STORE_FAILURES as exc:
            raise CommandError(_("Cannot write the content tables: %(error)s") % {"error": exc}) from exc
        self.stdout.write(_("Loaded %(count)d items from %(path)s.") % {"count": count, "path": path})
        program_list_sync(self)
