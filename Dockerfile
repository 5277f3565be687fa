# Interleave: the web app, served by uvicorn on port 8000.
#   docker build -t interleave . && docker run --rm -p 8000:8000 interleave
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    INTERLEAVE_HOST=0.0.0.0 \
    INTERLEAVE_PORT=8000

WORKDIR /srv/interleave

# The app finds static/ and templates/ next to its package directory, so the server
# runs from this tree; `pip install .` brings the runtime dependencies (no test extra).
COPY pyproject.toml ./
COPY app ./app
COPY static ./static
COPY templates ./templates
RUN python -m pip install --no-cache-dir . \
    && useradd --no-log-init --no-create-home --user-group --uid 10001 --shell /usr/sbin/nologin interleave

USER 10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/scenarios' % os.environ.get('INTERLEAVE_PORT', '8000'), timeout=4)"]

CMD ["python", "-m", "app"]
