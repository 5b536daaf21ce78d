# syntax=docker/dockerfile:1
#
# One image for the four stage services and the topic-creation job; the command picks the stage:
#
#   docker build -t agentinstruct:dev .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=... -e MONGODB_URI=... agentinstruct:dev python -m services.refiner
#
# The builder installs the locked dependencies (uv.lock, no dev group) and the project into /app/.venv; the
# runtime stage gets that virtual environment and the services' source, runs as an unprivileged user and has no
# build tools. /metrics and /health are served on HTTP_PORT (8000).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# uv: the version scripts/setup.sh pins
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN pip install "uv==${UV_VERSION}"

WORKDIR /src

# Dependencies first, from the lock file alone: this layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-editable

# Then the project itself (schemas + core), installed as a regular package, not a link to /src.
COPY README.md ./
COPY schemas ./schemas
COPY core ./core
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

COPY services ./services
RUN /app/.venv/bin/python -m compileall -q services

# -- runtime --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="agentinstruct" \
      org.opencontainers.image.description="AgentInstruct stage services (transformer, suggester, refiner, validator)" \
      org.opencontainers.image.licenses="MIT"

# tini as PID 1 forwards SIGTERM to the service (which drains before exiting) and reaps the sandboxed tool
# processes the validator starts.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 agentinstruct \
    && useradd --system --uid 10001 --gid agentinstruct --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin agentinstruct

WORKDIR /app
# Owned by root and read-only for the service user: the pods run with a read-only root filesystem anyway.
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /src/services /app/services

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8000

USER 10001:10001
EXPOSE 8000

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "services.transformer"]
