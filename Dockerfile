# syntax=docker/dockerfile:1
# Vigil: multi-stage image, same pinned requirements as `python3 manage.py demo`, non-root user.
#   docker build -t vigil .
#   docker run -p 8501:8501 -v vigil-data:/data vigil            # production: set DATABASE_URL etc.
#   docker run -p 8501:8501 -e VIGIL_DEMO=true vigil demo          # the embedded demo
# For a CPU-only image without CUDA wheels, pass the PyTorch CPU wheel index:
#   docker build --build-arg PIP_EXTRA_INDEX_URL=<pytorch cpu index> -t vigil .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL}
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 vigil \
 && useradd --uid 10001 --gid vigil --home-dir /home/vigil --create-home --shell /usr/sbin/nologin vigil \
 && mkdir -p /data && chown vigil:vigil /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root . /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VIGIL_DATA_DIR=/data \
    DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
USER vigil
EXPOSE 8501 9464
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["dashboard"]
