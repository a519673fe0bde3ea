"""The staff groups every installation starts with."""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS

CONTENT_MODELS = ("program", "season", "episode")
GROUP_ACTIONS = {
    "Editors": ("add", "change", "delete", "view"),
    "Ops": ("view",),
    "Viewers": ("view",),
}
# The cache console's buttons. Purge is nobody's by group: superusers, or a user given it by name.
CACHE_ACTIONS = {"Ops": ("rebuild", "prewarm", "invalidate", "rollback")}


def groups_ensure(**kwargs) -> None:
    """Create the Editors, Ops and Viewers groups with their content and cache console permissions."""
    for name, actions in GROUP_ACTIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        codenames = [f"{action}_{model}" for action in actions for model in CONTENT_MODELS]
        group.permissions.add(*Permission.objects.filter(content_type__app_label="cms", codename__in=codenames))
    _cache_actions_grant(kwargs.get("using", DEFAULT_DB_ALIAS))


def _cache_actions_grant(using: str) -> None:
    """Give the groups their cache console buttons."""
    if not apps.is_installed("cacheops"):
        return
    # The cache app comes after this one: its own post_migrate, which creates its permissions, may not have run yet.
    create_permissions(apps.get_app_config("cacheops"), verbosity=0, using=using)
    for name, codenames in CACHE_ACTIONS.items():
        group = Group.objects.get(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="cacheops", codename__in=codenames))
