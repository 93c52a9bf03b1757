# tricklab: one image for the API server, the migration step and the GPU workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRICKLAB_DATA_DIR=/data

WORKDIR /app

# torch first and in its own layer: it is most of the image and changes least.
# PyPI's Linux build of torch includes CUDA, which the GPU workers need.
ARG TORCH_SPEC="torch==2.13.0"
RUN pip install "${TORCH_SPEC}"

COPY pyproject.toml README.md ./
COPY backend ./backend
COPY worker ./worker
COPY frontend ./frontend
# Editable, so the dashboard's static files stay where the server looks for them.
RUN pip install -e . \
    && useradd --create-home --uid 1000 tricklab \
    && mkdir -p /data \
    && chown tricklab /data

USER tricklab
VOLUME ["/data"]
EXPOSE 8000

# tricklab runs as PID 1, so SIGTERM from `docker stop` reaches it directly.
ENTRYPOINT ["tricklab"]
CMD ["server", "--host", "0.0.0.0", "--port", "8000"]
