"""The console's URLs, mounted at /admin/cacheops/ ahead of the admin's own."""

from django.urls import path

from .schedules import airtime_cancel, airtime_page, airtime_schedule
from .views import action, console_action, console_view, family, operations, overview, task

app_name = "cacheops_console"

urlpatterns = [
    path("", console_view(overview), name="overview"),
    path("family/<str:name>/", console_view(family), name="family"),
    path("family/<str:name>/<str:action>/", console_action(action), name="action"),
    path("operations/", console_view(operations), name="operations"),
    path("tasks/<str:task_id>/", console_view(task), name="task"),
    path("airtime/", console_view(airtime_page), name="airtime"),
    path("airtime/schedule/", console_action(airtime_schedule), name="airtime_schedule"),
    path("airtime/<int:schedule_id>/cancel/", console_action(airtime_cancel), name="airtime_cancel"),
]
