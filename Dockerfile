# twinland: the service on PostgreSQL (set TWINLAND_DATABASE_URL) or on its embedded SQLite.
# Build: docker build -t twinland .   Run: see docs/configuration.md.

# --- build: resolve the locked dependencies into a virtualenv ---------------------------
FROM python:3.11-slim-bookworm AS build
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
# dependencies first (cached layer), then the project itself
RUN uv sync --frozen --no-default-groups --no-install-project --python /usr/local/bin/python3
COPY backend ./backend
COPY assets_pipeline ./assets_pipeline
RUN uv sync --frozen --no-default-groups --no-editable --python /usr/local/bin/python3

# --- web: the viewer's npm modules (three.js, the 3D Tiles renderer), no dev tools -------
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json web/.npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY web ./

# --- runtime: no compilers, no uv, not root ---------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system twinland && useradd --system --gid twinland --home /app twinland \
    && mkdir -p /var/lib/twinland && chown twinland:twinland /var/lib/twinland
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY scenes ./scenes
COPY --from=web /web ./web
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TWINLAND_MODE=production \
    TWINLAND_HOST=0.0.0.0 \
    TWINLAND_PORT=8000 \
    TWINLAND_DATA_DIR=/var/lib/twinland \
    TWINLAND_LOG_FORMAT=json \
    TWINLAND_WEB_DIR=/app/web
USER twinland
VOLUME ["/var/lib/twinland"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
# TWINLAND_ADMIN_TOKEN, TWINLAND_LIVE_SECRET, TWINLAND_VISITOR_SECRET and
# TWINLAND_AUTH_SECRET must be provided: production mode refuses the dev defaults.
CMD ["twinland", "serve", "--scenes", "scenes"]
