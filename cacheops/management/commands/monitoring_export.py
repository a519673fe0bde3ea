from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Write the Grafana dashboard, the Prometheus alert rules and their tests, and the CloudWatch dashboard and "
        "agent configuration, all generated from cacheops/monitoring/definition.py."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir", default=str(settings.BASE_DIR / "monitoring"), help="where to write them (default: monitoring/)"
        )
        parser.add_argument(
            "--check", action="store_true", help="write nothing; exit 1 if the files there differ from the definition"
        )

    def handle(self, *, dir: str, check: bool, **options):
        try:
            from cacheops.monitoring import render
        except ImportError as exc:
            raise CommandError(f"{exc.name} is missing: install requirements-dev.txt") from None
        directory = Path(dir)
        if check:
            if stale := render.stale(directory):
                raise CommandError(f"out of date in {directory}: {', '.join(stale)} (run manage.py monitoring_export)")
            self.stdout.write(f"{directory}: up to date")
            return
        for path in render.export(directory):
            self.stdout.write(f"wrote {path}")
