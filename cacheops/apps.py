from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CacheopsConfig(AppConfig):
    name = "cacheops"
    verbose_name = _("Catalog cache")

    def ready(self) -> None:
        from cms.signals import content_changed

        from .receivers import content_changed_receive

        content_changed.connect(content_changed_receive, dispatch_uid="cacheops.content_changed")

        from celery.signals import worker_ready, worker_shutdown

        from .workers import worker_ready_receive, worker_shutdown_receive

        worker_ready.connect(worker_ready_receive, dispatch_uid="cacheops.worker_ready")
        worker_shutdown.connect(worker_shutdown_receive, dispatch_uid="cacheops.worker_shutdown")
