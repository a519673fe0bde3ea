import json

from django.core.management.base import BaseCommand, CommandError

from cacheops.backends.base import CacheError
from cacheops.manifest import manifest_read, manifest_ttl_left
from cacheops.release.families import families_read


class Command(BaseCommand):
    help = "Show every cached family: version, chunks, sizes, TTL left, previous version."

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true", help="print exactly one JSON document")

    def handle(self, *, as_json: bool, **options):
        try:
            families = [
                {"name": name, "manifest": manifest, "ttl_left_s": int(manifest_ttl_left(manifest)) if manifest else 0}
                for name in families_read()
                for manifest in [manifest_read(name)]
            ]
        except CacheError as exc:
            raise CommandError(f"cannot read the cache: {exc}") from None
        if as_json:
            self.stdout.write(_json_dump({"families": families}))
            return
        if not families:
            self.stdout.write("nothing published yet")
        for family in families:
            self._describe(family)

    def _describe(self, family: dict) -> None:
        manifest = family["manifest"]
        if manifest is None:
            self.stdout.write(f"{family['name']}: no current version")
            return
        stale = " (stale)" if manifest.get("stale") else ""
        self.stdout.write(
            f"{family['name']}: version {manifest['version']}{stale}, {manifest['codec']}, "
            f"{manifest['raw_bytes']} bytes raw, {manifest['compressed_bytes']} compressed, "
            f"as of {manifest['as_of']}, built {manifest['built_at']}, TTL left {family['ttl_left_s']} s, "
            f"previous {manifest.get('previous_version') or '-'}"
        )
        for chunk in manifest["chunks"]:
            self.stdout.write(f"  {chunk['key']}  {chunk['bytes']} bytes")


def _json_dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
