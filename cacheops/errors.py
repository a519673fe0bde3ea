"""Why a build or a publish could not go ahead; raised by the lock, the manifest reads and the publisher."""


class PublishError(Exception):
    """A snapshot could not be published; the previous version stays current."""


class BuildBusy(PublishError):
    """Another build of this family holds the lock."""


class LockLost(PublishError):
    """This build's lock expired and another build may have taken over."""


class FutureAsOf(PublishError):
    """A build was asked for a future instant: publishing it now would release embargoed content."""


class NothingPublished(Exception):
    """No catalog version is current, so there are no sizes to plan with."""
