import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
django_application = get_wsgi_application()

# Every request Django answers has an editor waiting: DynamoDB calls get the short web budget (see settings).
from cms.store.models import models_configure  # noqa: E402  (needs the apps loaded above)

models_configure(web=True)

# The public read API, /healthz and /metrics are answered before Django; every other path goes to Django.
from cacheops.read.app import ReadSide  # noqa: E402  (reads the settings loaded above)

application = ReadSide(django_application)
