# Interleave: the web app, served by uvicorn on port 8000.
#   docker build -t interleave . && docker run --rm -p 8000:8000 interleave

# --- builder: the package as wheels, its recorder compiled (mypyc: app/hotpath.py) -----
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# A C compiler, and Python's headers where the base image's Python lacks them (Debian's
# own python3 keeps them in python3-dev; the official image ships them). Only this
# stage has them: the image below gets the built wheels.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && include=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])') \
    && if [ ! -f "$include/Python.h" ]; then apt-get install -y --no-install-recommends python3-dev; fi \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md /src/
COPY app /src/app
COPY static /src/static
COPY templates /src/templates
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels /src

# --- the image: the runtime only -------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    INTERLEAVE_HOST=0.0.0.0 \
    INTERLEAVE_PORT=8000 \
    INTERLEAVE_DATABASE=/var/lib/interleave/runs.sqlite

# The package is installed from the builder's wheels (static files and templates are
# its package data): the server runs from site-packages, not from a checkout.
COPY --from=builder /wheels /tmp/wheels
RUN python -m pip install --no-cache-dir --no-index /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
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
