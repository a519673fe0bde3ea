"""The cache engine's answers to content changes."""

from django.conf import settings

from cacheops.build import operations


def content_changed_receive(sender, *, program_id: str, items: list, user: str, **kwargs) -> None:
    """Note the changed program with the items written and queue a catalog rebuild (folded with other saves)."""
    if settings.CACHEOPS_REBUILD_ON_SAVE:
        operations.rebuild_request(program_id=program_id, items=items, requested_by=user)
