# infercap operator image: the wheel and its hash-pinned dependencies in a virtual environment, on a
# Python 3.11 base chosen at build time, running as a non-root user.
#   docker build -t ghcr.io/infercap/infercap:0.1.0 .
#   hack/image/build.sh      # what the tests do: no daemon, a Debian bookworm base made by mmdebstrap
# BASE needs python3 (3.11) with venv and ensurepip: python:3.11-slim-bookworm, or Debian bookworm with
# python3.11 and python3-venv.
ARG BASE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock ./
# Dependencies first (a layer that changes only with the lock), each file checked against its hash.
# A build behind a TLS-inspecting proxy passes its CA bundle as the optional secret `ca`
# (`--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt`); it is mounted for this step only.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/infercap \
 && /opt/infercap/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
# infercap itself, offline: its build backend (setuptools, wheel) and every dependency came from the
# lock above; the build tools leave the environment afterwards.
RUN /opt/infercap/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /dist . \
 && /opt/infercap/bin/pip install --no-deps --no-index /dist/infercap-*.whl \
 && /opt/infercap/bin/pip uninstall --yes --quiet setuptools wheel pip \
 && find /opt/infercap -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="infercap" \
      org.opencontainers.image.description="Model-aware inference capacity for Kubernetes: plans accelerators, replicas, nodes and cost for LLMs and reconciles node pools." \
      org.opencontainers.image.source="https://github.com/infercap/infercap" \
      org.opencontainers.image.url="https://github.com/infercap/infercap" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="infercap" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
ENV PATH=/opt/infercap/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/infercap /opt/infercap
# A numeric user needs no passwd entry; the chart's securityContext sets the same uid.
USER 65532:65532
EXPOSE 8000 8080
ENTRYPOINT ["infercap"]
CMD ["run", "--liveness=http://0.0.0.0:8080/healthz", "--metrics-port=8000", "--log-format=json"]
