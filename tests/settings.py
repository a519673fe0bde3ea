"""Settings for the test suite: the real settings, with eager Celery and fast hashing."""

import tempfile

from cms.settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="airtime-media-")
DYNAMODB_TABLE_PREFIX = "test-"
LANGUAGE_CODE = "ja"
CACHEOPS_REBUILD_ON_SAVE = False  # cache tests turn it on where they test it
STATIC_ROOT = None  # nothing is collected for tests; the staticfiles finders serve the admin CSS
