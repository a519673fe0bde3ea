"""Django's own answer to the catalog spike, as a reference: settings, URLs and WSGI app in one module.

DJANGO_SETTINGS_MODULE=django_cache_site gunicorn -c gunicorn.conf.py --chdir bench django_cache_site:application

BENCH_DJANGO_CACHE=site (default): the documented per-site cache (UpdateCacheMiddleware first, then
GZipMiddleware, FetchFromCacheMiddleware last), so the gzip-compressed response is what goes into the cache and
every hit sends it as it is. BENCH_DJANGO_CACHE=page: `cache_page` on the views (the catalog and a program
page), no compression.
The cache is django-redis on REDIS_URL. The view builds the catalog from the stored program sources, as of
BENCH_CATALOG_AS_OF (ISO 8601) when set, so that its body is the one the cache engine published.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache

from cms.settings import *  # noqa: F403  (the same apps and database; only the request path differs)
from cms.settings import REDIS_URL

MODE = os.environ.get("BENCH_DJANGO_CACHE", "site")
CACHE_SECONDS = 600

ROOT_URLCONF = __name__
DEBUG = False
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHEOPS_KEY_PREFIX", "p") + ":django",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
CACHE_MIDDLEWARE_SECONDS = CACHE_SECONDS
CACHE_MIDDLEWARE_KEY_PREFIX = MODE
# The order the cache documentation gives: the update middleware runs last on the way out, after GZip has
# compressed the body and added Vary: Accept-Encoding, so the cached entry is the compressed response.
MIDDLEWARE = (
    [
        "django.middleware.cache.UpdateCacheMiddleware",
        "django.middleware.gzip.GZipMiddleware",
        "django.middleware.cache.FetchFromCacheMiddleware",
    ]
    if MODE == "site"
    else []
)


def _as_of() -> datetime:
    """The instant the catalog shows: BENCH_CATALOG_AS_OF, else now."""
    if value := os.environ.get("BENCH_CATALOG_AS_OF"):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.now(UTC).replace(microsecond=0)


def catalog(request):
    """Assemble the catalog from the stored program sources (what a cache miss costs)."""
    from django.http import HttpResponse

    from cacheops.build.fragments import sources_load
    from cacheops.build.snapshot import catalog_body

    body = catalog_body(sources_load().values(), _as_of())
    return HttpResponse(body, content_type="application/json")


def program(request, program_id: str):
    """One program cut from the catalog assembled as above, as Airtime's program page answers it."""
    import orjson
    from django.http import Http404, HttpResponse

    from cacheops.build.fragments import sources_load
    from cacheops.build.snapshot import catalog_body
    from cacheops.chunks import canonical

    programs = orjson.loads(catalog_body(sources_load().values(), _as_of()))["programs"]
    found = next((p for p in programs if p["id"] == program_id), None)
    if found is None:
        raise Http404(program_id)
    return HttpResponse(canonical({"program": found}), content_type="application/json")


def _urlpatterns() -> list:
    from django.urls import path
    from django.views.decorators.cache import cache_page

    def cached(view):
        return cache_page(CACHE_SECONDS)(view) if MODE == "page" else view

    return [path("api/catalog", cached(catalog)), path("api/programs/<str:program_id>", cached(program))]


def __getattr__(name: str):
    # URLs are built when Django asks for them, not while the settings load: the apps are not ready then.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


@cache
def _handler():
    from django.core.wsgi import get_wsgi_application

    os.environ["DJANGO_SETTINGS_MODULE"] = __name__
    return get_wsgi_application()


def application(environ, start_response):
    """WSGI entry point; Django is set up by the first request."""
    return _handler()(environ, start_response)
