# infercap operator image: build a wheel, install it with pinned dependencies into a slim runtime image,
# run as a non-root user. (These development machines have no Docker engine; CI does not build it.)
#   docker build -t ghcr.io/infercap/infercap:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY operator ./operator
RUN python -m pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /dist . \
 && python -m pip wheel --no-cache-dir --wheel-dir /dist -r requirements.lock

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /dist /dist
COPY requirements.lock /tmp/requirements.lock
# Pinned dependencies first, then infercap itself without resolving anything new.
RUN python -m pip install --no-index --find-links /dist -r /tmp/requirements.lock \
 && python -m pip install --no-index --no-deps /dist/infercap-*.whl \
 && rm -rf /dist /tmp/requirements.lock \
 && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin infercap
USER 65532:65532
EXPOSE 8000 8080
ENTRYPOINT ["infercap"]
CMD ["run", "--liveness=http://0.0.0.0:8080/healthz", "--metrics-port=8000", "--log-format=json"]
