from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from claims.models import Incident

INCIDENT_CODE = "regionpay-2023-02-24"


@pytest.fixture
def incident(db) -> Incident:
    """The 2023-02-24 incident as its data migration creates it (re-created after a transactional
    test's flush has emptied the tables)."""
    if not Incident.objects.filter(code=INCIDENT_CODE).exists():
        migration = importlib.import_module("claims.migrations.0002_incident_2023_02_24")
        migration.create_incident(apps, None)
    return Incident.objects.get(code=INCIDENT_CODE)
