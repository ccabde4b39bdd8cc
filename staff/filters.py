"""Admin list filters that read the portal's clock: 「今日」「今月」「今年」 are the portal's, so a
demo pinned to March 2023 (PORTAL_NOW) filters March 2023, not the machine's calendar."""

from __future__ import annotations

import datetime as dt

from django.contrib.admin.filters import DateFieldListFilter, FieldListFilter
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config import clock


class PortalDateFieldListFilter(DateFieldListFilter):
    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        now = timezone.localtime(clock.now())
        today: dt.date | dt.datetime
        if isinstance(field, models.DateTimeField):
            today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            today = now.date()
        tomorrow = today + dt.timedelta(days=1)
        next_month = (
            today.replace(year=today.year + 1, month=1, day=1)
            if today.month == 12
            else today.replace(month=today.month + 1, day=1)
        )
        next_year = today.replace(year=today.year + 1, month=1, day=1)
        since, until = self.lookup_kwarg_since, self.lookup_kwarg_until
        self.links = (
            (_("Any date"), {}),
            (_("Today"), {since: today, until: tomorrow}),
            (_("Past 7 days"), {since: today - dt.timedelta(days=7), until: tomorrow}),
            (_("This month"), {since: today.replace(day=1), until: next_month}),
            (_("This year"), {since: today.replace(month=1, day=1), until: next_year}),
            *self.links[5:],  # 「日付なし」「日付あり」 for a nullable field, as Django builds them
        )


# Before Django's own registration for date fields, so every admin date filter reads the portal clock.
FieldListFilter.register(
    lambda field: isinstance(field, models.DateField), PortalDateFieldListFilter, take_priority=True
)
