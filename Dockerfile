# One image for every role: web (gunicorn), worker, beat and the one-shot migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SELFHEAL_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --create-home --uid 10001 selfheal

COPY pyproject.toml README.md ./
COPY selfheal ./selfheal
COPY dashboard ./dashboard
RUN pip install .

COPY manage.py Procfile ./
COPY templates ./templates
COPY static ./static
COPY policies ./policies
# collectstatic needs settings but no database or real secret.
RUN SELFHEAL_ENV=development python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R selfheal /app/var

USER selfheal
EXPOSE 8000
CMD ["gunicorn", "dashboard.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
