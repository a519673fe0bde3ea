import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
django_application = get_asgi_application()

# Every request Django answers has an editor waiting: DynamoDB calls get the short web budget (see settings).
from cms.store.models import models_configure  # noqa: E402  (needs the apps loaded above)

models_configure(web=True)

# The public read API, its events stream, /healthz and /metrics are answered before Django; every other path goes to
# Django.
from cacheops.read.asgi import ReadSideAsgi  # noqa: E402  (reads the settings loaded above)

application = ReadSideAsgi(django_application)
