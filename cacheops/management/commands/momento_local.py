"""Serve the Momento cache protocol from memory until Ctrl-C."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cacheops.momento_local import DEFAULT_MAX_ITEM_BYTES, MomentoLocalServer


class Command(BaseCommand):
    help = (
        "Serve the Momento cache protocol from memory so the real SDK can be used in development and tests "
        "(point MOMENTO_LOCAL=host:port at it). Not for production: nothing is kept, nothing is authenticated."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
        parser.add_argument(
            "--max-item-bytes",
            type=int,
            default=DEFAULT_MAX_ITEM_BYTES,
            help=f"largest item (key and value) accepted, as the service's limit (default: {DEFAULT_MAX_ITEM_BYTES})",
        )

    def handle(self, *args, host, port, max_item_bytes, **options):
        server = MomentoLocalServer(host, port, max_item_bytes)
        try:
            port = server.start()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("Momento-protocol server on %(host)s:%(port)d; use MOMENTO_LOCAL=%(host)s:%(port)d. Ctrl-C stops it.")
            % {"host": host, "port": port}
        )
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
