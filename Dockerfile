# Interleave: the web app, served by uvicorn on port 8000.
#   docker build -t interleave . && docker run --rm -p 8000:8000 interleave
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    INTERLEAVE_HOST=0.0.0.0 \
    INTERLEAVE_PORT=8000 \
    INTERLEAVE_DATABASE=/var/lib/interleave/runs.sqlite

# The package is installed (static files and templates are its package data), then the
# sources are removed: the server runs from site-packages, not from a checkout.
COPY pyproject.toml README.md /tmp/interleave/
COPY app /tmp/interleave/app
COPY static /tmp/interleave/static
COPY templates /tmp/interleave/templates
RUN python -m pip install --no-cache-dir /tmp/interleave \
    && rm -rf /tmp/interleave \
    && useradd --no-log-init --no-create-home --user-group --uid 10001 --shell /usr/sbin/nologin interleave \
    && mkdir -p /var/lib/interleave \
    && chown 10001:10001 /var/lib/interleave

# The run history (one SQLite file): mount a volume here to keep it across containers.
VOLUME ["/var/lib/interleave"]
WORKDIR /var/lib/interleave
USER 10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/scenarios' % os.environ.get('INTERLEAVE_PORT', '8000'), timeout=4)"]

CMD ["interleave", "serve"]
