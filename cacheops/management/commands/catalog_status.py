import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cacheops.backends.base import CacheError
from cacheops.cli import family_checked
from cacheops.manifest import manifest_read, manifest_ttl_left
from cacheops.release.families import families_read, release_state
from cms.domain import time_text


def _release(name: str) -> dict:
    """The staged version and its instant, the pin and the next boundary of `name` (empty or null when none)."""
    state = release_state(name)
    if state is None:
        return {"staged_version": "", "staged_at": None, "pin": None, "next_boundary": None}
    pin = None
    if state.pinned_at is not None:
        pin = {"pinned_at": time_text(state.pinned_at), "pinned_by": state.pinned_by, "reason": state.pin_reason}
    return {
        "staged_version": state.staged_version,
        "staged_at": time_text(state.staged_at),
        "pin": pin,
        "next_boundary": time_text(state.next_boundary),
    }


class Command(BaseCommand):
    help = (
        "Show every cached family (or one): version, chunks, sizes, TTL left, previous version, the staged version "
        "and its instant, the pin and the next boundary."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", dest="as_json", action="store_true", help=_("print exactly one JSON document"))
        parser.add_argument(
            "--family", help=_("show only this family: catalog or program:<id> of an existing program (default: all)")
        )

    def handle(self, *, as_json: bool, family: str | None, **options):
        names = [family_checked(family)] if family is not None else None
        try:
            families = [
                {
                    "name": name,
                    "manifest": manifest,
                    "ttl_left_s": int(manifest_ttl_left(manifest)) if manifest else 0,
                    "release": _release(name),
                }
                for name in (names if names is not None else families_read())
                for manifest in [manifest_read(name)]
            ]
        except CacheError as exc:
            raise CommandError(_("Cannot read the cache: %(error)s") % {"error": exc}) from None
        if as_json:
            self.stdout.write(_json_dump({"families": families}))
            return
        if not families:
            self.stdout.write(_("nothing published yet"))
        for described in families:
            self._describe(described)

    def _describe(self, family: dict) -> None:
        manifest = family["manifest"]
        if manifest is None:
            self.stdout.write(_("%(family)s: no current version") % {"family": family["name"]})
        else:
            line = _(
                "%(family)s: version %(version)s%(stale)s, %(codec)s, %(raw)d bytes raw, %(compressed)d compressed, "
                "as of %(as_of)s, built %(built)s, TTL left %(ttl)d s, previous %(previous)s"
            )
            self.stdout.write(
                line
                % {
                    "family": family["name"],
                    "version": manifest["version"],
                    "stale": _(" (stale)") if manifest.get("stale") else "",
                    "codec": manifest["codec"],
                    "raw": manifest["raw_bytes"],
                    "compressed": manifest["compressed_bytes"],
                    "as_of": manifest["as_of"],
                    "built": manifest["built_at"],
                    "ttl": family["ttl_left_s"],
                    "previous": manifest.get("previous_version") or "-",
                }
            )
        self._release_describe(family["release"])
        for chunk in manifest["chunks"] if manifest else []:
            self.stdout.write(_("  %(key)s  %(bytes)d bytes") % {"key": chunk["key"], "bytes": chunk["bytes"]})

    def _release_describe(self, release: dict) -> None:
        if release["staged_version"]:
            staged = _("  staged: %(version)s, current from %(at)s") % {
                "version": release["staged_version"],
                "at": release["staged_at"],
            }
        else:
            staged = _("  staged: none")
        self.stdout.write(staged)
        if pin := release["pin"]:
            pinned = _("  pinned by %(by)s at %(at)s: %(reason)s") % {
                "by": pin["pinned_by"],
                "at": pin["pinned_at"],
                "reason": pin["reason"] or _("no reason given"),
            }
        else:
            pinned = _("  pinned: no")
        self.stdout.write(pinned)
        self.stdout.write(_("  next boundary: %(at)s") % {"at": release["next_boundary"] or _("none")})


def _json_dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
