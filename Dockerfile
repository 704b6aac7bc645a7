# news-monitor: the daemon on the shipped config.
#
#   docker build -t news-monitor .
#   touch secrets.env        # VAR=value lines for the config's *_env keys; empty is fine
#   docker run -d --name news-monitor --stop-timeout 30 \
#       -v "$PWD/config:/app/config" -v news-monitor-data:/app/data \
#       --env-file secrets.env news-monitor            # `monitor run`
#   docker run --rm -v "$PWD/config:/app/config" news-monitor check-config
#
# Or `docker compose -f deploy/compose.yaml up -d`. The daemon takes up to 10 s after
# SIGTERM to finish its work in flight: the stop timeout (docker's default is 10 s) must be
# longer, or docker kills it mid-work. A bind-mounted data folder must be writable by the
# image's user, uid 10001: `mkdir -p data && sudo chown 10001:10001 data`.
#
# Any `monitor` command can replace `run`. Secrets (MONITOR_SMTP_PASSWORD, ...) come
# from the environment, never from the image or the config file.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Install the package from a scratch copy of the source, then drop the copy.
COPY pyproject.toml README.md /tmp/src/
COPY monitor /tmp/src/monitor
RUN pip install /tmp/src && rm -rf /tmp/src

# A dedicated unprivileged user owns the state; the code stays root-owned and read-only.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --home-dir /app --no-create-home \
               --shell /usr/sbin/nologin monitor \
    && mkdir -p /app/config /app/data \
    && chown monitor:monitor /app/data

# The shipped config: the paths inside it (data/monitor.db, data/digests.log) are relative
# to /app. Mount your own config directory over /app/config to change it.
COPY config/monitor.toml /app/config/monitor.toml

ENV MONITOR_CONFIG=/app/config/monitor.toml
VOLUME ["/app/config", "/app/data"]

USER monitor
# Liveness: with an [http] table in the config, the daemon's GET /healthz must answer 200
# (its scheduler ticks); without one nothing listens and the check passes. Sources failing
# or deliveries dead do not make the container unhealthy: that is `monitor status --check`'s
# job (`docker exec news-monitor monitor status --check`). `docker inspect` shows the reason.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "monitor.healthcheck"]
# `monitor run` stops cleanly on SIGTERM (docker stop).
STOPSIGNAL SIGTERM
ENTRYPOINT ["monitor"]
CMD ["run"]
