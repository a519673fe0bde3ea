"""Settings for the test suite: the real settings, with eager Celery and fast hashing."""

import os
import tempfile
from pathlib import Path

from cms.settings import *  # noqa: F403

# Never the developer's running stack (bin/run's stack file), here nor in the manage.py processes tests start
# with DJANGO_SETTINGS_MODULE=cms.settings: they inherit this. A test about that file points it elsewhere.
os.environ["AIRTIME_STACK_ENV"] = ""

CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="airtime-media-")
DYNAMODB_TABLE_PREFIX = "test-"
LANGUAGE_CODE = "ja"
CACHEOPS_REBUILD_ON_SAVE = False  # cache tests turn it on where they test it
STATIC_ROOT = None  # nothing is collected for tests; the staticfiles finders serve the admin CSS
CACHEOPS_OPS_PER_SECOND = 1_000_000  # no pacing, except where a test measures it
# The test client stands in for a web process (cms/wsgi.py): editors' requests get the short budget.
DYNAMODB_READ_TIMEOUT = DYNAMODB_WEB_READ_TIMEOUT  # noqa: F405
DYNAMODB_MAX_RETRIES = DYNAMODB_WEB_MAX_RETRIES  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as in production: threads of one test then wait for SQLite's write lock, where the default
    # in-memory test database (shared cache, table locks) answers "database table is locked" at once.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.mkdtemp(prefix="airtime-db-")) / "test.sqlite3")}  # noqa: F405
CACHEOPS_PROCESS_TIMER = False  # no thread writing SQL across tests; those about the timer turn it on
