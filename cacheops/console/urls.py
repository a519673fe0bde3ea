"""The console's URLs, mounted at /admin/cacheops/ ahead of the admin's own."""

from django.urls import path

from .releases import accept, purge, resume, rollback
from .schedules import airtime_cancel, airtime_page, airtime_prepare, airtime_schedule
from .views import (
    action,
    console_action,
    console_form,
    console_view,
    family,
    operations,
    overview,
    task,
    workers,
    workers_json,
)

app_name = "cacheops_console"

urlpatterns = [
    path("", console_view(overview), name="overview"),
    path("family/<str:name>/", console_view(family), name="family"),
    # What ops do to a release, at once; the other actions start tasks.
    path("family/<str:name>/rollback/", console_form(rollback), name="rollback"),
    path("family/<str:name>/resume/", console_action(resume), name="resume"),
    path("family/<str:name>/purge/", console_action(purge), name="purge"),
    path("family/<str:name>/accept/", console_action(accept), name="accept"),
    path("family/<str:name>/<str:action>/", console_action(action), name="action"),
    path("operations/", console_view(operations), name="operations"),
    path("tasks/<str:task_id>/", console_view(task), name="task"),
    path("workers/", console_view(workers), name="workers"),
    path("workers.json", console_view(workers_json), name="workers_json"),
    path("airtime/", console_view(airtime_page), name="airtime"),
    path("airtime/schedule/", console_action(airtime_schedule), name="airtime_schedule"),
    path("airtime/prepare/", console_action(airtime_prepare), name="airtime_prepare"),
    path("airtime/<int:schedule_id>/cancel/", console_action(airtime_cancel), name="airtime_cancel"),
]
