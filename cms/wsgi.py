import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
application = get_wsgi_application()

# Every request here has an editor waiting: DynamoDB calls get the short web budget (see settings).
from cms.store.models import models_configure  # noqa: E402  (needs the apps loaded above)

models_configure(web=True)
