# One image for every Parley process of docker-compose.yml (web, engine, media, worker, beat):
# the command chooses what runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/parley
COPY pyproject.toml README.md ./
COPY parley ./parley
RUN pip install . \
    && useradd --system --create-home --home-dir /var/lib/parley parley

USER parley
ENV PARLEY_DATA_DIR=/var/lib/parley/data \
    PARLEY_HOST=0.0.0.0
EXPOSE 8000
CMD ["parley", "serve"]
