"""A build's progress report is for the console's bar: a result backend that cannot be reached costs the report,
never the build (the broker's Redis, which holds the results, restarting mid-build)."""

from celery import Celery

from cacheops.tasks import _progress
from cms.store.local import free_port


def test_a_progress_report_to_an_unreachable_result_backend_is_dropped_and_the_build_goes_on(caplog):
    app = Celery("progress", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.result_backend = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    @app.task(bind=True)
    def build(self):
        report = _progress(self)
        report("programs", 1, 3)
        return "published"

    assert build.apply(task_id="b-1").get() == "published"
    assert "Could not report the progress of task b-1; the build goes on" in caplog.text
