# syntax=docker/dockerfile:1
#
# Officehours in one slim image. Build:  docker build -t officehours .
# Run (SQLite in the /data volume):
#   docker run -p 8080:8080 -v officehours-data:/data officehours
# See docs/operations.md for every OFFICEHOURS_* variable and docker-compose.yml for
# PostgreSQL + Redis.

ARG PYTHON_IMAGE=python:3.11-slim

# --- the Socket.IO browser client, from package-lock.json (served at /vendor/) -------------
FROM node:22-slim AS web
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# --- Python dependencies in a virtual environment -------------------------------------------
# Every package pinned in requirements/runtime.txt is a pure-Python wheel or a manylinux wheel
# for CPython 3.11 on linux/amd64 (aiohttp, asyncpg, uvloop, argon2-cffi-bindings, cffi,
# cryptography, av, pylibsrtp, ...), so no compiler is installed. The newest glibc any of them
# needs is 2.34 (cryptography), which the Debian-based slim image has. Other architectures
# have not been checked.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --no-cache-dir -r /tmp/runtime.txt
# An editable install: the venv gets the `officehours` command and an import hook that maps
# server, rooms, media and migrations to /app/... . The code finds its web client as
# Path(server/app.py).parent.parent / "static", so the source tree must stay at /app in the
# final stage, with static/ next to server/ (a regular `pip install .` would put server/ in
# site-packages, where no static/ exists).
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server/ server/
COPY rooms/ rooms/
COPY media/ media/
COPY migrations/ migrations/
RUN pip install --no-cache-dir --no-deps -e .

# --- the runtime image ------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# OFFICEHOURS_BASE_URL decides the Origin allow-list and cookie security: override it with the
# address people type (https://... behind a TLS proxy). This default suits
# `docker run -p 8080:8080` opened as http://localhost:8080.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OFFICEHOURS_HOST=0.0.0.0 \
    OFFICEHOURS_DATA_DIR=/data \
    OFFICEHOURS_BASE_URL=http://localhost:8080 \
    OFFICEHOURS_MEDIA_UDP_PORT=50000

RUN groupadd --system --gid 10001 officehours \
 && useradd --system --uid 10001 --gid officehours --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin officehours \
 && mkdir /data \
 && chown officehours:officehours /data \
 && chmod 700 /data

COPY --from=build /opt/venv /opt/venv
# Same layout as the source tree (and the same path as in the build stage, which the
# editable install points at). Owned by root: the server only reads it.
WORKDIR /app
COPY server/ server/
COPY rooms/ rooms/
COPY media/ media/
COPY migrations/ migrations/
COPY static/ static/
COPY docs/privacy.md docs/privacy.md
COPY --from=web /src/node_modules/socket.io-client/dist/ node_modules/socket.io-client/dist/
COPY --from=web /src/node_modules/uplot/dist/ node_modules/uplot/dist/
RUN python -m compileall -q server rooms media migrations

USER 10001:10001
# SQLite database and, when OFFICEHOURS_SECRET_KEY is unset, the generated secret_key file.
VOLUME ["/data"]
EXPOSE 8080 50000/udp

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OFFICEHOURS_PORT', '8080'), timeout=4)"]

# `serve` applies pending migrations before it starts listening.
CMD ["officehours", "serve"]
