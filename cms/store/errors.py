"""What the content store tells its callers when a write cannot happen."""


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
