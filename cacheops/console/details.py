"""An operation's detail as the console shows it: in the reader's language, times in JST with UTC beside.

Builds, publishes, invalidations, prewarms, release actions, the airtime tick and the sweep of dead operations
record their detail as English text made of parts joined by "; " (English is what logs and commands print); an
operation that failed records its error's class and text. Each part the product writes, and each error the product
raises, is recognised here and said again in the active language; a part not recognised (another library's error
text, a reason typed by ops) is shown as it is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cacheops.release.release_actions import REFUSALS
from cms.broadcast import JST, jst_utc_format
from cms.domain import time_parse

SEPARATOR = "; "
_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
_MODES = {
    "full": gettext_lazy("full build"),
    "incremental": gettext_lazy("incremental build"),
    "again": gettext_lazy("full build again (the shared cache had lost the catalog)"),
}


def _when(text: str) -> str:
    return jst_utc_format(time_parse(text))


def _clock_utc(text: str) -> str:
    """A UTC time of day (HH:MM:SS) as JST with UTC beside: the time of day is all such a part records."""
    utc = datetime.strptime(text, "%H:%M:%S").replace(tzinfo=UTC)
    jst = (utc + timedelta(hours=9)).replace(tzinfo=JST)
    return f"{jst:%H:%M:%S} JST / {text} UTC"


def _count(text: str) -> str:
    return number_format(int(text), force_grouping=True)


def _busy(family: str, holder: str = "", since: str = "") -> str:
    if not since:
        return _("Busy: another build of %(family)s is running.") % {"family": family}
    return _("Busy: another build of %(family)s (%(holder)s) has been running since %(since)s.") % {
        "family": family,
        "holder": holder,
        "since": _clock_utc(since),
    }


@functools.cache
def _refusal_patterns() -> list[tuple[re.Pattern, Callable[..., str]]]:
    """Each refusal as its English text reads, so that a refused action's detail is shown in the active language."""
    patterns = []
    with translation.override("en"):
        for code, message in REFUSALS.items():
            english = re.escape(str(message))
            english = re.sub(r"%\\\((\w+)\\\)s", lambda m: f"(?P<{m[1]}>.+?)", english)
            patterns.append((re.compile(f"ReleaseRefused: {english}"), lambda code=code, **p: str(REFUSALS[code]) % p))
    return patterns


def _error_said(text: str) -> str | None:
    """An error's text the product wrote, said in the active language; None for any other text."""
    for pattern, say in _ERRORS_COMPILED:
        if match := pattern.fullmatch(text):
            return say(**{name: value for name, value in match.groupdict().items() if value is not None})
    return None


def _error(text: str) -> str:
    """An error's text embedded in a part: said again if the product wrote it, else kept as written."""
    said = _error_said(text)
    return text if said is None else said


def _refusal(code: str, family: str) -> str:
    return str(REFUSALS[code]).removesuffix(".") % {"family": family}


# The errors the product raises, as their text reads (an operation that failed records "Class: text").
_ERRORS: list[tuple[str, Callable[..., str]]] = [
    (
        r"verification failed: (?P<error>.+)",
        lambda error: _("verification failed: %(error)s") % {"error": _error(error)},
    ),
    (
        r"chunk (?P<index>\d+) \((?P<key>[^)]+)\) is missing",
        lambda index, key: _("chunk %(index)s (%(key)s) is missing") % {"index": index, "key": key},
    ),
    (
        r"chunk (?P<index>\d+) \((?P<key>[^)]+)\) is corrupt",
        lambda index, key: _("chunk %(index)s (%(key)s) is corrupt") % {"index": index, "key": key},
    ),
    (
        r"the reassembled snapshot does not match its checksum",
        lambda: _("the reassembled snapshot does not match its checksum"),
    ),
    (
        r"version (?P<version>\S+) of (?P<family>\S+) is no longer complete in the cache: (?P<error>.+)",
        lambda version, family, error: (
            _("version %(version)s of %(family)s is no longer complete in the cache: %(error)s")
            % {"version": version, "family": family, "error": _error(error)}
        ),
    ),
    (
        r"the chunks of (?P<family>\S+) (?P<version>\S+) expire before its manifest could be written",
        lambda family, version: (
            _("the chunks of %(family)s %(version)s expire before its manifest could be written")
            % {"family": family, "version": version}
        ),
    ),
    (
        r"(?P<family>\S+) has no current version to stage a later one behind",
        lambda family: _("%(family)s has no current version to stage a later one behind") % {"family": family},
    ),
    (
        r"version (?P<version>\S+) of (?P<family>\S+) cannot be restored",
        lambda version, family: (
            _("version %(version)s of %(family)s cannot be restored") % {"version": version, "family": family}
        ),
    ),
    (r"(?P<family>\S+) is not pinned", lambda family: _refusal("not_pinned", family)),
    (r"(?P<family>\S+) has no current version to purge", lambda family: _refusal("nothing_current", family)),
    (r"(?P<family>\S+) holds no version back", lambda family: _refusal("nothing_held", family)),
    (
        r"(?P<family>\S+) has no current version",
        lambda family: _("%(family)s has no current version") % {"family": family},
    ),
    (
        r"cache (?P<operation>\S+) (?P<key>'[^']*'|\"[^\"]*\") failed: (?P<reason>.+)",
        lambda operation, key, reason: (
            _("cache %(operation)s %(key)s failed: %(reason)s") % {"operation": operation, "key": key, "reason": reason}
        ),
    ),
    (
        r"CloudFront (?P<operation>\S+) on distribution (?P<distribution>\S*) failed: (?P<reason>.+)",
        lambda operation, distribution, reason: (
            _("CloudFront %(operation)s on distribution %(distribution)s failed: %(reason)s")
            % {"operation": operation, "distribution": distribution, "reason": reason}
        ),
    ),
    (
        r"no CDN is configured \(CACHEOPS_CDN_DISTRIBUTION_ID is empty\)",
        lambda: _("no CDN is configured (CACHEOPS_CDN_DISTRIBUTION_ID is empty)"),
    ),
    (
        r"DynamoDB did not answer (?P<operation>\S+): (?P<reason>.+)",
        lambda operation, reason: (
            _("DynamoDB did not answer %(operation)s: %(reason)s") % {"operation": operation, "reason": reason}
        ),
    ),
]
_ERRORS_COMPILED = [(re.compile(pattern), say) for pattern, say in _ERRORS]
# The classes of the errors above, as an operation that failed names them.
_ERROR_CLASSES = (
    "PublishError|LockLost|ChunkError|CacheError|CacheUnavailable|CacheItemTooLarge|CdnError|"
    "StoreUnavailable|StoreUnconfirmed"
)


def _failure(error_class: str, error: str) -> str:
    """A failed operation's error: the product's own text in the active language, another text with its class."""
    said = _error_said(error)
    return f"{error_class}: {error}" if said is None else said


# (pattern of one part, how to say it): the pattern's named groups are the function's arguments.
_PARTS: list[tuple[str, Callable[..., str]]] = [
    (r"(?P<mode>full|incremental|again)", lambda mode: str(_MODES[mode])),
    (
        r"(?P<count>\d+) items read",
        lambda count: ngettext("%(count)s item read", "%(count)s items read", int(count)) % {"count": _count(count)},
    ),
    (
        r"(?P<size>\d+) bytes",
        lambda size: ngettext("%(size)s byte", "%(size)s bytes", int(size)) % {"size": _count(size)},
    ),
    (
        r"index behind the recorded writes \(read by key\): (?P<items>.+)",
        lambda items: _("index behind the recorded writes (read by key): %(items)s") % {"items": items},
    ),
    (
        r"not publishable \(last good entry kept, if any\): (?P<items>.+)",
        lambda items: _("not publishable (last good entry kept, if any): %(items)s") % {"items": items},
    ),
    (
        r"caught up a boundary (?P<late>\d+) s late",
        lambda late: _("caught up a boundary %(late)s s late") % {"late": _count(late)},
    ),
    (
        rf"staging as of (?P<at>{_TIME}) failed: (?P<error>.+)",
        lambda at, error: _("staging as of %(at)s failed: %(error)s") % {"at": _when(at), "error": _error(error)},
    ),
    (
        rf"staged (?P<version>[0-9a-f]+) as of (?P<at>{_TIME})",
        lambda version, at: _("staged %(version)s as of %(at)s") % {"version": version, "at": _when(at)},
    ),
    (
        rf"unchanged (?P<version>[0-9a-f]+) as of (?P<at>{_TIME})",
        lambda version, at: _("staged already: %(version)s as of %(at)s") % {"version": version, "at": _when(at)},
    ),
    (
        rf"current since (?P<at>{_TIME}), recorded (?P<late>\d+) s later",
        lambda at, late: _("current since %(at)s, recorded %(late)s s later") % {"at": _when(at), "late": _count(late)},
    ),
    (
        rf"superseded (?P<version>[0-9a-f]+) as of (?P<at>{_TIME})",
        lambda version, at: (
            _("staging %(version)s as of %(at)s was superseded by a later build")
            % {"version": version, "at": _when(at)}
        ),
    ),
    (
        r"staged version (?P<version>\S+) lost chunks before its activation",
        lambda version: _("staged version %(version)s lost chunks before its activation") % {"version": version},
    ),
    (
        r"pinned by (?P<who>[^:]+?)(?:: (?P<reason>.*))?",
        lambda who, reason=None: (
            _("pinned by %(who)s: %(reason)s") % {"who": who, "reason": reason}
            if reason
            else _("pinned by %(who)s") % {"who": who}
        ),
    ),
    (r"(?P<version>\S+) taken down", lambda version: _("%(version)s taken down") % {"version": version}),
    (
        r"(?P<version>\S+) current meanwhile",
        lambda version: _("%(version)s current meanwhile") % {"version": version},
    ),
    (r"nothing current until the rebuild", lambda: _("nothing current until the rebuild")),
    (
        r"its chunks could not be removed \((?P<error>.*)\), readers drop them anyway",
        lambda error: (
            _("its chunks could not be removed (%(error)s), readers drop them anyway") % {"error": _error(error)}
        ),
    ),
    (
        r"CDN invalidation failed: (?P<error>.+)",
        lambda error: _("CDN invalidation failed: %(error)s") % {"error": _error(error)},
    ),
    (
        r"CDN invalidation (?P<id>\S+) \((?P<status>[^)]+)\)",
        lambda id, status: _("CDN invalidation %(id)s (%(status)s)") % {"id": id, "status": status},
    ),
    (
        r"no sign of life for more than (?P<seconds>[\d.]+) s: its worker died or was stopped before it finished",
        lambda seconds: (
            _("no sign of life for more than %(seconds)s s: its worker died or was stopped before it finished")
            % {"seconds": seconds}
        ),
    ),
    (r"BuildBusy: another build of (?P<family>\S+) is running", _busy),
    (
        r"BuildBusy: another build of (?P<family>\S+) \((?P<holder>.+)\) has been running since "
        r"(?P<since>\d\d:\d\d:\d\d) UTC",
        _busy,
    ),
    (r"KeyboardInterrupt: ", lambda: _("interrupted (Ctrl-C)")),
    (rf"(?P<error_class>{_ERROR_CLASSES}): (?P<error>.+)", _failure),
    # The airtime schedules' own notes.
    (
        r"live through a build as of its instant or later",
        lambda: _("live through a build as of its instant or later"),
    ),
    (
        r"its instant passed with no version staged for it",
        lambda: _("its instant passed with no version staged for it"),
    ),
    (
        r"re-built at staging: the content changed since it was prepared",
        lambda: _("re-built at staging: the content changed since it was prepared"),
    ),
    (r"not queued: (?P<error>.+)", lambda error: _("not queued: %(error)s") % {"error": _error(error)}),
    (r"preparing failed: (?P<error>.+)", lambda error: _("preparing failed: %(error)s") % {"error": _error(error)}),
]
_COMPILED = [(re.compile(pattern), say) for pattern, say in _PARTS]


def _part_text(part: str) -> str:
    for pattern, say in [*_COMPILED, *_refusal_patterns()]:
        if match := pattern.fullmatch(part):
            return say(**{name: value for name, value in match.groupdict().items() if value is not None})
    return part


def detail_text(detail: str) -> str:
    """`detail` in the active language, its times in JST with UTC beside; parts not recognised are kept as written."""
    if not detail:
        return ""
    return SEPARATOR.join(_part_text(part) for part in detail.split(SEPARATOR))
