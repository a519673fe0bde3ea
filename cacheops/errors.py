"""Why a build or a publish could not go ahead; raised by the lock, the manifest reads and the publisher."""

from django.utils import translation
from django.utils.translation import gettext_lazy

FUTURE_AS_OF = gettext_lazy(
    "as of %(as_of)s is in the future (now %(now)s): publishing it now would release embargoed content; use "
    "prewarm --at (or rebuild_catalog --as-of) to stage it for that instant"
)


class PublishError(Exception):
    """A snapshot could not be published; the previous version stays current."""


class BuildBusy(PublishError):
    """Another build of this family holds the lock."""


class LockLost(PublishError):
    """This build's lock expired and another build may have taken over."""


class FutureAsOf(PublishError):
    """A build was asked for a future instant: publishing it now would release embargoed content. Logged in
    English, shown in the reader's language (`text`)."""

    def __init__(self, as_of: str, now: str = "") -> None:
        self.as_of, self.now = as_of, now
        with translation.override("en"):
            super().__init__(self.text())

    def __reduce__(self):
        # Celery pickles a failed task's exception for its result: rebuild it from the same parts.
        return type(self), (self.as_of, self.now)

    def text(self) -> str:
        """Why, in the active language."""
        return str(FUTURE_AS_OF) % {"as_of": self.as_of, "now": self.now}


class NothingPublished(Exception):
    """No catalog version is current, so there are no sizes to plan with."""
