"""The bench's URLconf: the portal's URLs plus the baseline — a minimal Django view that inserts
one row in one table. It exists only here, so production never serves it."""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
@require_POST
def baseline_insert(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline_row (body) VALUES (%s) RETURNING id", [json.dumps(body)])
        (row_id,) = cursor.fetchone()
    return HttpResponse(json.dumps({"id": row_id}), status=201, content_type="application/json")


urlpatterns = [path("bench/baseline-insert", baseline_insert), *portal_urlpatterns]
