# One image for every process of the portal: web (gunicorn), worker and beat (Celery),
# the one-shot migrate step and the carrier simulator differ only in their command;
# docker-compose.yml wires them together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings.production \
    PORTAL_VAR_DIR=/app/var \
    WEB_CONCURRENCY=2

RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --create-home --home-dir /home/portal \
        --shell /usr/sbin/nologin portal

WORKDIR /app

# Dependencies before the code, so that a code change reuses this layer. Every wheel is
# pinned by hash and the lock is complete, hence --no-deps.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

COPY . .

# Static files are collected into the image (served by WhiteNoise). Production settings
# refuse to load without their secrets, so this one step gets random throwaway ones that
# live only in this RUN (a fixed one would be published with the source, and refused);
# the real ones come from the environment at run time.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    CARRIER_API_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    CARRIER_CALLBACK_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/var/broker /data/carrier /data/media \
    && chown portal:portal /app/var /data/carrier /data/media \
    && chown -R portal:portal /app/var/broker

# The code stays root-owned and read-only to the process; only var/ (embedded broker,
# SQLite when no DATABASE_URL) and the simulator's data folder are writable.
USER portal

EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "http://127.0.0.1:8000/healthz"]

# Workers: WEB_CONCURRENCY (gunicorn reads it). No control socket: it would go to $HOME.
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--no-control-socket", \
     "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
