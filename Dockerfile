FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
# Bytecode once at build (PYTHONDONTWRITEBYTECODE stops it at run time): every command starts ~1 s sooner.
RUN python -m compileall -q config coupons claims callcenter payouts notifications
RUN DJANGO_SECRET_KEY=build-only FIELD_ENCRYPTION_SALT=build-only DATABASE_URL=postgres://x@localhost/x REDIS_URL=redis://localhost \
    python manage.py collectstatic --no-input
RUN useradd --system portal && mkdir -p .data/media && chown -R portal .data
USER portal
EXPOSE 8000
