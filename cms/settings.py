"""Airtime settings, read from the environment in this one place."""

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from cms.processes import process_alive

BASE_DIR = Path(__file__).resolve().parent.parent


def _stack_env_path() -> Path | None:
    """Where `bin/run` describes the stack it runs, or None where nothing may read it.

    Only this settings module reads it: settings that build on it (the test suite's) must never reach a
    developer's running stack, and AIRTIME_STACK_ENV set to nothing turns it off (tests/settings.py does).
    """
    if os.environ.get("DJANGO_SETTINGS_MODULE") != "cms.settings":
        return None
    location = os.environ.get("AIRTIME_STACK_ENV", str(BASE_DIR / ".run" / "stack.env"))
    return Path(location) if location else None


def _stack_env_read() -> None:
    """Give commands the settings of the stack `bin/run` runs now, so they read the cache and store it uses.

    Variables already in the environment win. The file names the script's process: a file left behind by
    a stack that was killed outright is ignored rather than pointing commands at servers that are gone.
    """
    path = _stack_env_path()
    if path is None or not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    owner = re.search(r"^AIRTIME_STACK_PID=(\d+)$", text, re.MULTILINE)
    if owner and not process_alive(int(owner.group(1))):
        return
    environ.Env.read_env(path, overwrite=False)


_stack_env_read()
env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DJANGO_HTTPS = env.bool("DJANGO_HTTPS", default=False)
if DJANGO_HTTPS and SECRET_KEY.startswith("dev-only"):
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: the development key must never serve HTTPS traffic.")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "cms.apps.LoginLockoutConfig",  # django-axes
    "cms.apps.CmsConfig",
    "cacheops",
]

MIDDLEWARE = [
    # The public read API never gets here: cms.wsgi answers it before Django (cacheops.read.app).
    # Starts the process's timer (traffic rows, readiness gauge), which the read API's poller leaves to it.
    "cacheops.timers.ProcessTimersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a login refused during a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cms.urls"
WSGI_APPLICATION = "cms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# SQLite (local): a transaction begins with BEGIN IMMEDIATE, which waits (up to the busy timeout) for another
# process's write, instead of failing at once with "database is locked" when a transaction that has read writes.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")

# Media: local files unless a bucket is configured, then S3 through django-storages.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
AWS_DEFAULT_REGION = env("AWS_DEFAULT_REGION", default="ap-northeast-1")
AWS_S3_REGION_NAME = AWS_DEFAULT_REGION
AWS_S3_ADDRESSING_STYLE = "path"
AWS_S3_CUSTOM_DOMAIN = env("AWS_S3_CUSTOM_DOMAIN", default=None)
AWS_QUERYSTRING_AUTH = env.bool("AWS_QUERYSTRING_AUTH", default=True)
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "django.core.files.storage.FileSystemStorage"
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Content store (DynamoDB). Unset endpoint means AWS itself.
DYNAMODB_ENDPOINT_URL = env("DYNAMODB_ENDPOINT_URL", default=None)
DYNAMODB_TABLE_PREFIX = env("DYNAMODB_TABLE_PREFIX", default="airtime-")
# Nobody waits on a worker or a command: their DynamoDB calls may take time (a full Scan, throttling retried
# by botocore with backoff). An editor waits on every call of a web process, which must answer within about
# 10 s (two attempts of at most connect + read timeout each), not minutes: cms/asgi.py (and cms/wsgi.py) switch web
# processes to the DYNAMODB_WEB_* budget.
DYNAMODB_CONNECT_TIMEOUT = env.float("DYNAMODB_CONNECT_TIMEOUT", default=2.0)
DYNAMODB_READ_TIMEOUT = env.float("DYNAMODB_READ_TIMEOUT", default=30.0)
DYNAMODB_MAX_RETRIES = env.int("DYNAMODB_MAX_RETRIES", default=8)
DYNAMODB_WEB_READ_TIMEOUT = env.float("DYNAMODB_WEB_READ_TIMEOUT", default=3.0)
DYNAMODB_WEB_MAX_RETRIES = env.int("DYNAMODB_WEB_MAX_RETRIES", default=1)

# Redis and Celery.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
# A worker takes one message per pool process and no more: a worker that dies holds no other task back (each
# would wait out the visibility timeout), and a task waiting in the queue is one no worker has taken.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A save queues its rebuild after the content is stored, inside the editor's request: a stalled broker must
# cost seconds, not minutes. Sends publish without retry (cms/enqueue.py) and the beat sweep queues what
# could not be sent. Sending also subscribes to the task's result on the result backend's Redis
# (ResultConsumer.consume_from), which retries its reconnect 20 times unless its policy is bounded too; when
# it gives up it logs that the application must be restarted, but the next send simply reconnects.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A task's message stays unacknowledged in Redis while the task runs (acks late). When its worker dies, another
# worker takes the message over once it has been out for the visibility timeout (kombu's default: an hour),
# looking for such messages every few seconds. The timeout must exceed every task's hard time limit and the
# longest retry countdown (60 s), or a task still running is delivered a second time.
# Builds of the cache stop at their soft time limit (a tenth earlier) and are killed at the hard one. The longest
# is a full rebuild that publishes every program family again: about programs x 12 / CACHEOPS_OPS_PER_SECOND
# seconds (360 programs at 50 operations/s: 90 s), plus the DynamoDB scan.
CACHEOPS_BUILD_TIME_LIMIT = env.int("CACHEOPS_BUILD_TIME_LIMIT", default=300)
BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
if BROKER_VISIBILITY_TIMEOUT <= CACHEOPS_BUILD_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT ({BROKER_VISIBILITY_TIMEOUT} s) must exceed CACHEOPS_BUILD_TIME_LIMIT "
        f"({CACHEOPS_BUILD_TIME_LIMIT} s), or a build still running is delivered to a second worker"
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    # Every worker scans for messages past their visibility timeout this often (kombu: every 100 s).
    "unacked_restore_interval": max(1, min(10, BROKER_VISIBILITY_TIMEOUT // 3)),
    "unacked_restore_throttle": 1,
}
CELERY_REDIS_SOCKET_TIMEOUT = 1
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"timeout": 1}}
# The default scheduler, which also records beat's sign of life for /metrics and the console.
CELERY_BEAT_SCHEDULER = "cacheops.beat:Scheduler"
# A queued build that no worker has started (or kept, while waiting its turn) within this long is sent again, by
# the next save or by the beat, which looks this often: the broker may have lost it, or a dead worker held it.
CACHEOPS_QUEUED_STALE_SECONDS = env.float("CACHEOPS_QUEUED_STALE_SECONDS", default=2.0)
CELERY_BEAT_SCHEDULE = {
    "purge-deleted-programs": {"task": "cms.tasks.deleted_programs_sweep", "schedule": 300.0},
    # Saves keep the pickers' SQL program list current; this repairs what a failed or bulk write left behind.
    "sync-program-list": {"task": "cms.tasks.program_index_sync", "schedule": 300.0},
    "refresh-cache-ttls": {"task": "cacheops.tasks.refresh_ttl", "schedule": 3600.0},
    # Sends again a build no worker took up: its message was lost (a broker restart) or held by a worker that died.
    "rebuild-stalled-changes": {
        "task": "cacheops.tasks.rebuild_stalled",
        "schedule": CACHEOPS_QUEUED_STALE_SECONDS,
    },
    "sweep-dead-operations-and-lost-families": {
        "task": "cacheops.tasks.sweep",
        "schedule": env.float("CACHEOPS_SWEEP_SECONDS", default=60.0),
    },
    # Stages the snapshot of the next publish_at / expire_at ahead of it and makes it current once it comes.
    "airtime": {"task": "cacheops.tasks.airtime", "schedule": env.float("CACHEOPS_AIRTIME_TICK_SECONDS", default=10.0)},
}

# Catalog cache: the chunked snapshot in Redis (local) or Momento (production), or a backend class's
# dotted path. Momento reads MOMENTO_API_KEY and MOMENTO_ENDPOINT itself; MOMENTO_LOCAL=host:port
# points it at `manage.py momento_local` instead.
CACHEOPS_BACKEND = env("CACHEOPS_BACKEND", default="redis")
CACHEOPS_KEY_PREFIX = env("CACHEOPS_KEY_PREFIX", default="p")
CACHEOPS_REDIS_URL = env("CACHEOPS_REDIS_URL", default=REDIS_URL)
MOMENTO_CACHE_NAME = env("MOMENTO_CACHE_NAME", default="airtime")
MOMENTO_LOCAL = env("MOMENTO_LOCAL", default="")
CACHEOPS_CHUNK_BYTES = env.int("CACHEOPS_CHUNK_BYTES", default=1_000_000)
CACHEOPS_TTL_SECONDS = env.int("CACHEOPS_TTL_SECONDS", default=86400)
CACHEOPS_CODEC = env("CACHEOPS_CODEC", default="gzip")
# Web processes hear of each new version on the family's channel and fetch it at once; the poll only finds what
# an announcement lost (a subscription being reopened, a cache without pub/sub when CACHEOPS_READER_SUBSCRIBE is off).
CACHEOPS_READER_POLL_SECONDS = env.float("CACHEOPS_READER_POLL_SECONDS", default=30.0)
CACHEOPS_READER_SUBSCRIBE = env.bool("CACHEOPS_READER_SUBSCRIBE", default=True)
# An idle /api/catalog/events stream gets a comment line this often, so that no proxy closes it for silence.
CACHEOPS_EVENTS_HEARTBEAT_SECONDS = env.float("CACHEOPS_EVENTS_HEARTBEAT_SECONDS", default=15.0)
# The snapshot of each content boundary (a publish_at or expire_at) is built, verified and named in the
# manifest's `staged` this long before it; every reader fetches it ahead and switches at the instant itself.
CACHEOPS_STAGE_AHEAD_SECONDS = env.int("CACHEOPS_STAGE_AHEAD_SECONDS", default=600)
# Requests carrying this token in X-Edge-Token (the CDN's origin requests) may fetch a staged version's chunks
# before it is released; nobody else sees them. Empty: nobody.
CACHEOPS_EDGE_TOKEN = env("CACHEOPS_EDGE_TOKEN", default="")
# The CDN's address (e.g. https://cdn.example.com): a prepared airtime's chunks are fetched through it, with the
# edge token, so its caches hold them before the instant. Empty: no edge warming.
CACHEOPS_EDGE_URL = env("CACHEOPS_EDGE_URL", default="")
# The CloudFront distribution whose cached API answers a release change invalidates. Empty: no CDN. Its endpoint
# is AWS's unless set (tests point it at moto); region and credentials are boto3's, as for DynamoDB and S3.
CACHEOPS_CDN_DISTRIBUTION_ID = env("CACHEOPS_CDN_DISTRIBUTION_ID", default="")
CACHEOPS_CDN_ENDPOINT_URL = env("CACHEOPS_CDN_ENDPOINT_URL", default="")
# Requests never wait on the shared cache, except in a process holding no version yet: this long at most,
# then 503 with Retry-After.
CACHEOPS_READER_MISS_WAIT_SECONDS = env.float("CACHEOPS_READER_MISS_WAIT_SECONDS", default=5.0)
# How long caches (CDNs, browsers) may keep /api/catalog; every directive ends by the next content boundary.
CACHEOPS_CATALOG_CACHE = {
    "max-age": env.int("CACHEOPS_CATALOG_MAX_AGE", default=5),
    "stale-while-revalidate": env.int("CACHEOPS_CATALOG_STALE_WHILE_REVALIDATE", default=30),
    "stale-if-error": env.int("CACHEOPS_CATALOG_STALE_IF_ERROR", default=86400),
}
CACHEOPS_MANIFEST_MAX_AGE = env.int("CACHEOPS_MANIFEST_MAX_AGE", default=1)
# Origins allowed to read the API from a browser ("*" for any).
CACHEOPS_CORS_ORIGINS = env.list("CACHEOPS_CORS_ORIGINS", default=[])
# Each process adds its request counts to the per-minute rows in SQL this often (off the request path).
CACHEOPS_METRICS_FLUSH_SECONDS = env.float("CACHEOPS_METRICS_FLUSH_SECONDS", default=10.0)
# Each web process's timer writes its traffic rows and readiness gauge to SQL (off only where tests drive it).
CACHEOPS_PROCESS_TIMER = env.bool("CACHEOPS_PROCESS_TIMER", default=True)
# A build renews its lock every CACHEOPS_LOCK_RENEW_SECONDS (0: a third of the lock's lifetime) until its
# hard time limit; a dead worker's lock frees itself CACHEOPS_LOCK_SECONDS after the last renewal, sooner when
# its operation is known to have ended or has missed three heartbeats.
CACHEOPS_LOCK_SECONDS = env.int("CACHEOPS_LOCK_SECONDS", default=10)
CACHEOPS_LOCK_RENEW_SECONDS = env.float("CACHEOPS_LOCK_RENEW_SECONDS", default=0.0)
# A running operation (and each worker) writes a sign of life this often: one that missed three is dead, so its
# lock is broken, its changes go to the next build and the console stops showing it running.
CACHEOPS_HEARTBEAT_SECONDS = env.float("CACHEOPS_HEARTBEAT_SECONDS", default=1.0)
# Every editorial save queues a catalog rebuild (folded with other saves).
CACHEOPS_REBUILD_ON_SAVE = env.bool("CACHEOPS_REBUILD_ON_SAVE", default=True)
# About how long the catalog build a save queues takes, for telling editors when a save reaches the apps (with
# the reader poll and the catalog's max-age). An estimate: the console's operations log shows real build times.
CACHEOPS_REBUILD_TYPICAL_SECONDS = env.float("CACHEOPS_REBUILD_TYPICAL_SECONDS", default=3.0)
# Shared-cache operations per second a build may spend on program families (Momento's default quota is 100).
CACHEOPS_OPS_PER_SECOND = env.float("CACHEOPS_OPS_PER_SECOND", default=50)
# Shared-cache operations per second the whole cluster may send (Momento's default quota); the console compares.
CACHEOPS_SHARED_CACHE_QUOTA = env.float("CACHEOPS_SHARED_CACHE_QUOTA", default=100)
# The shared cache's other limits, which `manage.py capacity_plan` compares with the catalog's real figures: the
# cache's throughput (KiB/s), its largest item (KiB) and its longest TTL. Defaults: Momento's, as its limits page
# (https://docs.momentohq.com/cache/limits) gives them: 1 MB/s per cache, items up to 5 MB, a TTL of 24 h at most.
# Set them to the cache's own (Momento's CacheLimits: max_throughput_kbps, max_item_size_kb, max_ttl_seconds).
CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB = env.float("CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB", default=1024)
CACHEOPS_SHARED_CACHE_ITEM_KIB = env.float("CACHEOPS_SHARED_CACHE_ITEM_KIB", default=5120)
CACHEOPS_SHARED_CACHE_MAX_TTL_SECONDS = env.int("CACHEOPS_SHARED_CACHE_MAX_TTL_SECONDS", default=86400)

# HTTPS hardening follows DJANGO_HTTPS, so plain http on loopback works with debug off.
SECURE_SSL_REDIRECT = DJANGO_HTTPS
SESSION_COOKIE_SECURE = DJANGO_HTTPS
CSRF_COOKIE_SECURE = DJANGO_HTTPS
SECURE_HSTS_SECONDS = 31536000 if DJANGO_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = DJANGO_HTTPS
SECURE_HSTS_PRELOAD = DJANGO_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if DJANGO_HTTPS else None
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Login throttling (django-axes): failures count per username and client address together, so guessing
# an editor's password from one place is stopped without locking the editor out everywhere else.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_ON_SUCCESS = True
# Refused tries during a lockout do not extend it, so the lockout page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "cms.admin.lockout.lockout_response"
# The client address is the socket peer (REMOTE_ADDR): trusting X-Forwarded-For without a proxy would let
# anyone choose the address their failures count against. Behind proxies that each append to the header,
# DJANGO_TRUSTED_PROXIES is how many there are (2 for CloudFront then a load balancer).
TRUSTED_PROXIES = env.int("DJANGO_TRUSTED_PROXIES", default=0)
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if TRUSTED_PROXIES else ("REMOTE_ADDR",)
# ipware counts the proxies named in the header; the nearest one is REMOTE_ADDR itself.
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXIES - 1 if TRUSTED_PROXIES else None
# Count hops from the right, so whatever a client writes at the left of the header is ignored.
IPWARE_STRICT = False

# Content-Security-Policy (django-csp): every script and style is a static file of this origin, never
# inline; images may also come from the media bucket.
if not AWS_STORAGE_BUCKET_NAME:
    MEDIA_ORIGINS = []
elif AWS_S3_CUSTOM_DOMAIN:
    MEDIA_ORIGINS = [f"https://{AWS_S3_CUSTOM_DOMAIN}"]
elif AWS_S3_ENDPOINT_URL:
    MEDIA_ORIGINS = ["{0.scheme}://{0.netloc}".format(urlsplit(AWS_S3_ENDPOINT_URL))]
else:
    MEDIA_ORIGINS = [f"https://s3.{AWS_S3_REGION_NAME}.amazonaws.com"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *MEDIA_ORIGINS],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
    },
}

# Uploads: images are read into memory for verification, so keep the cap explicit.
CMS_IMAGE_MAX_BYTES = 5 * 1024 * 1024
# A content list's total is counted in one request looking at no more items than this; past it, "N or more".
ADMIN_LIST_COUNT_MAX = 2000
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # PynamoDB, botocore and django-axes announce their defaults on every start (axes every login too);
    # only their warnings (failed logins, lockouts) matter.
    "loggers": {name: {"level": "WARNING"} for name in ("pynamodb", "botocore", "axes")},
}
