"""Test settings: the project's settings with test-only values. Never used outside the suite."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret-" + "x" * 40)
os.environ.setdefault("FIELD_ENCRYPTION_SALT", "tests-only-salt")

from config.settings import *  # noqa: F403
from config.settings import env_bool

DEBUG = False
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="regionpay-test-media-"))
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="regionpay-test-static-"))
# Tasks run in-process unless a test starts a real worker (tests/test_worker.py does).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "regionpay-tests")
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Messages are written where this run's test (and any worker it starts) can read them.
NOTIFY_BACKEND = os.environ.get("NOTIFY_BACKEND", "file")
NOTIFY_OUTBOX_DIR = Path(
    os.environ.get("NOTIFY_OUTBOX_DIR") or tempfile.mkdtemp(prefix="regionpay-test-outbox-")
)
