from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import Http404
from django.urls import include, path


def no_public_page(request, content_type_id, object_id):
    """Answer the admin's "view on site" links with 404: no model here has a public page."""
    # Django's own view would read the content's anchor model, which has no table: a 500, not a 404.
    raise Http404


urlpatterns = [
    path("admin/r/<path:content_type_id>/<path:object_id>/", no_public_page),
    path("admin/cacheops/", include("cacheops.console.urls")),
    path("admin/", admin.site.urls),
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
