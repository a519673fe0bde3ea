from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = _("Content")

    def ready(self) -> None:
        from .groups import groups_ensure
        from .store.models import models_configure

        models_configure()
        post_migrate.connect(groups_ensure, sender=self)


class LoginLockoutConfig(AxesConfig):
    """django-axes under a name editors read in the admin index."""

    verbose_name = _("Login lockouts")
