# One image for web, worker and beat (see docker-compose.yml); the command picks the process.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var

RUN useradd --system --create-home --home-dir /home/statuspage statuspage
WORKDIR /app

# Dependencies in their own layer, pinned by the lock: code changes don't reinstall them.
COPY pyproject.toml requirements.lock ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps -c requirements.lock -e . \
    # collectstatic imports the settings, which want a key; this one exists only during the build.
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf "$VAR_DIR" && mkdir -p "$VAR_DIR/snapshots" && chown statuspage "$VAR_DIR" "$VAR_DIR/snapshots"

USER statuspage
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-"]
