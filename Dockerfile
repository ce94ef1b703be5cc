# One image for every service: the API (`burntbeats serve`, the default command) or a worker
# (`burntbeats worker --queues stems --concurrency 2`), chosen by the command. The web UI is built in its
# own stage; the app runs as a non-root user; model weights are never baked in: mount them at MODELS_DIR.
#   docker build -t burntbeats .
#   docker compose up            (docker-compose.yml: app, a worker per queue, redis, postgres, minio)

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data MODELS_DIR=/models HOST=0.0.0.0 PORT=8000
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin burntbeats \
    && mkdir -p /data /models /app && chown burntbeats:burntbeats /data /models
WORKDIR /app
# torch's CPU build first (a plain `pip install torch` would take the CUDA build), then the package as
# `make install` does, with the no-deps packages of [tool.burntbeats] in pyproject.toml.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src/ ./src/
COPY --from=web /src/web/dist ./src/burntbeats/web_dist
RUN pip install '.[neural]' \
    && pip install --no-deps $(python -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['burntbeats']['no-deps']))")
USER burntbeats
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health', timeout=4)"
ENTRYPOINT ["burntbeats"]
CMD ["serve"]
