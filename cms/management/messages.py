"""What the content commands say when a bulk write meets content that exists already."""

from django.utils.translation import ngettext

from cms.store.errors import Clash


def clash_message(exc: Clash, advice: str) -> str:
    """One line naming the clashing items, what was kept, and `advice` on what to run next."""
    values = {"count": len(exc.ids), "ids": Clash.ids_shown(exc.ids), "written": exc.written, "advice": advice}
    if exc.written:
        message = ngettext(
            "%(count)d item was created by someone else meanwhile (%(ids)s); "
            "the %(written)d items written before it were kept. %(advice)s",
            "%(count)d items were created by someone else meanwhile (%(ids)s); "
            "the %(written)d items written before them were kept. %(advice)s",
            len(exc.ids),
        )
    else:
        message = ngettext(
            "%(count)d item exists already (%(ids)s); nothing was written. %(advice)s",
            "%(count)d items exist already (%(ids)s); nothing was written. %(advice)s",
            len(exc.ids),
        )
    return message % values
