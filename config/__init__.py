"""Project configuration: settings, the Celery app, URLs, the API error handler and the clock."""

from .celery import app as celery_app

__all__ = ["celery_app"]
