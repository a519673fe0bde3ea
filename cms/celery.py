import os

from celery import Celery
from celery.apps.worker import Worker
from kombu.utils.objects import cached_property

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")

# Gossip, mingle and worker heartbeats (events) are of no use here, and Gossip's restart on a lost broker connection
# can kill the worker (AttributeError on a closed connection's hostname). Remote control (`inspect ping`) stays on.
WORKER_FEATURES_OFF = {"without_gossip": True, "without_mingle": True, "without_heartbeat": True}


class AirtimeWorker(Worker):
    """A worker with the features above off, however it is started (Celery has no setting for them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, **WORKER_FEATURES_OFF})


class AirtimeCelery(Celery):
    @cached_property
    def Worker(self):  # noqa: N802 (Celery's name)
        return self.subclass_with_self(AirtimeWorker)


app = AirtimeCelery("cms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
