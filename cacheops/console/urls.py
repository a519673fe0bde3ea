"""The console's URLs, mounted at /admin/cacheops/ ahead of the admin's own."""

from django.urls import path

from .views import console_view, family, operations, overview

app_name = "cacheops_console"

urlpatterns = [
    path("", console_view(overview), name="overview"),
    path("family/<str:name>/", console_view(family), name="family"),
    path("operations/", console_view(operations), name="operations"),
]
