"""What the content store tells its callers when a write cannot happen."""

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException


class StoreError(Exception):
    """Base class for content store errors."""


class NotFound(StoreError):
    """The item does not exist (or is deleted)."""


class AlreadyExists(StoreError):
    """An item with this id exists already."""


class StaleVersion(StoreError):
    """The item changed since the caller read it."""


class NotUnique(StoreError):
    """A unique value (slug, episode number) is taken."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


class ItemTooLarge(StoreError):
    """The item would exceed DynamoDB's 400 KB limit."""

    def __init__(self, field: str, size: int):
        super().__init__(f"{field}: {size} bytes")
        self.field = field
        self.size = size


class StoreUnavailable(StoreError):
    """The store did not answer in time or could not be reached; nothing was written."""


class StoreUnconfirmed(StoreUnavailable):
    """A write reached the store but no answer came back: it may or may not have been applied."""


class NotEmpty(StoreError):
    """The item still has children (seasons or episodes), so it cannot be deleted."""


class Clash(StoreError):
    """A bulk insert met items that exist already; `written` items of it were kept."""

    def __init__(self, ids: list[str], written: int = 0):
        super().__init__(f"{len(ids)} items exist already: {self.ids_shown(ids)}")
        self.ids = ids
        self.written = written

    @staticmethod
    def ids_shown(ids: list[str], shown: int = 3) -> str:
        """The first few ids, for a one-line message."""
        return ", ".join(ids[:shown]) + (", …" if len(ids) > shown else "")


# What a call into the store may raise when DynamoDB cannot do it: for callers that report it in one line.
STORE_FAILURES = (BotoCoreError, ClientError, PynamoDBException, StoreUnavailable)
