# One image per service, all from this file, built from the repository root:
#
#   docker build --build-arg SERVICE=gateway -t stackmcp/gateway:dev .
#
# SERVICE is one of gateway, betterstack-worker, provisioning, expiry, sandbox. It names the
# workspace package and its console script, both `stackmcp-${SERVICE}`. The builder installs that
# one package from uv.lock (locked, no dev dependencies, not editable) into /app/.venv; the final
# image holds only the Python runtime and that venv, and runs as UID/GID 10001. Needs BuildKit
# (the default builder since Docker 23) for the RUN --mount options.
# Recipe: https://docs.astral.sh/uv/guides/integration/docker/ (tests/deploy/test_image.py runs
# the builder's commands for every service, so keep them plain `uv sync` shell commands).

ARG SERVICE=""

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.15-slim-bookworm AS builder
ARG SERVICE
RUN case "${SERVICE}" in \
        gateway|betterstack-worker|provisioning|expiry|sandbox) ;; \
        *) echo "SERVICE must be one of: gateway betterstack-worker provisioning expiry sandbox (got '${SERVICE}'); use --build-arg SERVICE=<service>" >&2; \
           exit 1 ;; \
    esac
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Third-party dependencies first: this layer changes only with uv.lock or a pyproject.toml.
# uv needs every workspace member's pyproject.toml to check the lock, so all are bound here.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=libs/contracts/pyproject.toml,target=libs/contracts/pyproject.toml \
    --mount=type=bind,source=libs/runtime/pyproject.toml,target=libs/runtime/pyproject.toml \
    --mount=type=bind,source=libs/embedded/pyproject.toml,target=libs/embedded/pyproject.toml \
    --mount=type=bind,source=services/gateway/pyproject.toml,target=services/gateway/pyproject.toml \
    --mount=type=bind,source=services/betterstack-worker/pyproject.toml,target=services/betterstack-worker/pyproject.toml \
    --mount=type=bind,source=services/provisioning/pyproject.toml,target=services/provisioning/pyproject.toml \
    --mount=type=bind,source=services/expiry/pyproject.toml,target=services/expiry/pyproject.toml \
    --mount=type=bind,source=services/betterstack-sandbox/pyproject.toml,target=services/betterstack-sandbox/pyproject.toml \
    --mount=type=bind,source=services/cli/pyproject.toml,target=services/cli/pyproject.toml \
    uv sync --locked --no-dev --no-editable --no-install-workspace --package "stackmcp-${SERVICE}"

# Then the workspace packages the service needs, built as wheels (the sources stay here).
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package "stackmcp-${SERVICE}" \
    && ln -s "stackmcp-${SERVICE}" "${UV_PROJECT_ENVIRONMENT}/bin/stackmcp-service" \
    && test -x "${UV_PROJECT_ENVIRONMENT}/bin/stackmcp-service"

FROM python:3.11.15-slim-bookworm
ARG SERVICE
LABEL org.opencontainers.image.title="stackmcp-${SERVICE}" \
      org.opencontainers.image.description="stackmcp ${SERVICE} service" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.15-slim-bookworm"
RUN groupadd --system --gid 10001 stackmcp \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin stackmcp
# Owned by root and read-only for the service user; only /tmp needs to be writable.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
# Exec form: the service's Python process is PID 1 and gets SIGTERM itself (it drains on it).
ENTRYPOINT ["/app/.venv/bin/stackmcp-service"]
