from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CacheopsConfig(AppConfig):
    name = "cacheops"
    verbose_name = _("Catalog cache")
