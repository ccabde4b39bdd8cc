from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from staff.models import LoginLockout

logger = logging.getLogger(__name__)


def lockout_release(*, attempt_ids: list[int], actor: Any) -> int:
    """Remove the failed-attempt records that lock a user name or address out (a supervisor's unlock).

    The attempts are deleted, which is what django-axes' own reset does; the audit trail keeps who
    did it (the actor's id only: no user names or addresses in the log).
    """
    with transaction.atomic():
        deleted, _ = LoginLockout.objects.filter(pk__in=attempt_ids).delete()
    logger.info("lockout_release: %s attempt record(s) removed by user id %s", deleted, actor.pk)
    return deleted
