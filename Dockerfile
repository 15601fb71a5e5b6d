# lenet-serve images. Two targets, both built with the classic builder (no BuildKit features):
#   docker build -t lenet-serve .                     full: TensorFlow, ONNX Runtime and NumPy
#                                                     backends, and the training job
#   docker build --target slim -t lenet-serve:slim .  ONNX Runtime and NumPy, no TensorFlow
# Both serve the bundled model artifacts/lenet/1 as a non-root user: HTTP (/v1 and the Open
# Inference Protocol's /v2) on port 8000, the protocol's gRPC service on 8001.
ARG PYTHON_IMAGE=python:3.11-slim

# The pins, read from pyproject.toml so there is no second list to drift. The files written
# here change only when the pins do, so the pip layers below stay cached across other edits.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /req
COPY pyproject.toml .
RUN python -c "import tomllib; \
project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = project['optional-dependencies']; \
slim = project['dependencies']; \
full = list(dict.fromkeys(slim + extras['tensorflow'] + extras['training'])); \
open('slim.txt', 'w').write('\n'.join(slim) + '\n'); \
open('full.txt', 'w').write('\n'.join(full) + '\n')"

# Each venv is built apart from the runtime, so pip's work never reaches it. The classic
# builder runs every stage above the target, hence the order: slim's stages come first.
FROM ${PYTHON_IMAGE} AS venv-slim
COPY --from=requirements /req/slim.txt /tmp/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/slim.txt

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --user-group --uid 10001 app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
EXPOSE 8000 8001
# Healthy = /readyz answers 200: a model is loaded and warmed up. Python: slim images lack curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('LENET_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "service"]

# The venv and the code stay root-owned: the app user reads them but cannot rewrite them.
FROM runtime AS slim
COPY --from=venv-slim /opt/venv /opt/venv
COPY artifacts/lenet/1 artifacts/lenet/1
COPY model model
COPY service service
ENV LENET_BACKENDS='["onnx","numpy"]'
USER app

FROM ${PYTHON_IMAGE} AS venv-full
COPY --from=requirements /req/full.txt /tmp/
# TensorFlow's C++ headers (~290 MB) only serve compiling custom ops, which nothing here does.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/full.txt \
 && rm -rf /opt/venv/lib/python3.11/site-packages/tensorflow/include

# The default target (last stage): both backends, and `python -m training` for the train job.
FROM runtime AS full
COPY --from=venv-full /opt/venv /opt/venv
COPY artifacts/lenet/1 artifacts/lenet/1
COPY model model
COPY training training
COPY service service
USER app
