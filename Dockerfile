FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gettext provides msgfmt for compilemessages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 airtime

WORKDIR /app
# Production's requirements only: the test and development tools are in requirements-dev.txt.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY manage.py ./
COPY cms cms
COPY cacheops cacheops
COPY templates templates
COPY locale locale

# collectstatic loads the settings: give it a throwaway key, only for this step, so no real
# key is ever baked into the image.
ARG DJANGO_SECRET_KEY=build-only-not-a-secret
RUN DJANGO_SECRET_KEY=$DJANGO_SECRET_KEY python manage.py collectstatic --noinput \
    && python manage.py compilemessages \
    && mkdir -p /data/media \
    && chown -R airtime:airtime /data

# /data holds uploaded media when no S3 bucket is configured: mount a volume there.
ENV DJANGO_MEDIA_ROOT=/data/media

USER airtime
EXPOSE 8000
# granian serving cms.asgi, one worker per core, the metrics directory for its workers (cms/serve.py).
CMD ["python", "-m", "cms.serve"]
