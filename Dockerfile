# The visionroll operator image: `python -m visionroll` (kopf), non-root, nothing but the operator and its runtime
# dependencies. torch and the rest of the [serving] extra never enter it: they belong to the data plane.
#
#   docker build -t visionroll/operator:dev .
#
# The base is pinned by tag; pin it by digest too (python:3.11.14-slim-bookworm@sha256:...) where a registry is at hand.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# No PIP_NO_CACHE_DIR: pip's cache is a cache mount (below), kept by the builder between builds and never in a layer.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the operator is made of (.dockerignore keeps the rest out of the context): no devenv/, no tests/, and of
# serving/ only the router's configuration schema.
COPY pyproject.toml ./
# The runtime dependencies first (the shared ones and the [operator] extra), read from pyproject.toml alone, into a venv that the final stage copies whole: a
# change to the operator's code reuses this layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/visionroll \
    && python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["operator"]))' \
         > /tmp/requirements.txt \
    && /opt/visionroll/bin/pip install -r /tmp/requirements.txt
COPY operator/ operator/
# router.json's one schema (pydantic and the standard library): the operator writes the router's configuration with
# it (visionroll/traffic/router.py). Nothing else of the data plane.
COPY serving/visionroll_serving/__init__.py serving/visionroll_serving/
COPY serving/visionroll_serving/router/__init__.py serving/visionroll_serving/router/config.py serving/visionroll_serving/router/
# Then a wheel of the project without extras, installed without dependencies (they are all in place: pip check).
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/visionroll/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/visionroll/bin/pip install --no-deps /tmp/wheels/visionroll-*.whl \
    && /opt/visionroll/bin/pip check \
    && /opt/visionroll/bin/pip uninstall -y pip \
    && if /opt/visionroll/bin/python -c "import torch" 2>/dev/null; then echo "torch in the operator image" >&2; exit 1; fi \
    && /opt/visionroll/bin/python -c "import visionroll, kopf, visionroll.traffic.router, visionroll.handlers.operator"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="visionroll operator" \
      org.opencontainers.image.description="Rolls out computer-vision models served by TorchServe, judged by Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/visionroll/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# A numeric user: Pod Security "restricted" verifies runAsNonRoot against the UID, not a name.
RUN groupadd --system --gid 10001 visionroll \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin visionroll
COPY --from=build /opt/visionroll /opt/visionroll
USER 10001:10001
WORKDIR /tmp
# VISIONROLL_METRICS_PORT (/metrics) and VISIONROLL_HEALTH_PORT (/healthz), docs/contracts.md.
EXPOSE 8000 8080
ENTRYPOINT ["python", "-m", "visionroll"]
