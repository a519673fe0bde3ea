"""The staff groups every installation starts with."""

from django.contrib.auth.models import Group, Permission

CONTENT_MODELS = ("program", "season", "episode")
GROUP_ACTIONS = {
    "Editors": ("add", "change", "delete", "view"),
    "Ops": ("view",),
    "Viewers": ("view",),
}


def groups_ensure(**kwargs) -> None:
    """Create the Editors, Ops and Viewers groups with their content permissions."""
    for name, actions in GROUP_ACTIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        codenames = [f"{action}_{model}" for action in actions for model in CONTENT_MODELS]
        group.permissions.add(*Permission.objects.filter(content_type__app_label="cms", codename__in=codenames))
