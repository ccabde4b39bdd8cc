from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from claims.models import Incident

INCIDENT_CODE = "regionpay-2023-02-24"


class _Discard:
    class objects:
        @staticmethod
        def create(**kwargs: object) -> None:
            return None


class _LiveApps:
    """The live registry for claims/0002's function. That migration also wrote simple-history's
    first entry, whose table is gone since 0007: the audit trail's triggers record the insert."""

    def get_model(self, app_label: str, model_name: str):
        if model_name == "HistoricalIncident":
            return _Discard
        return apps.get_model(app_label, model_name)


def create_incident() -> None:
    importlib.import_module("claims.migrations.0002_incident_2023_02_24").create_incident(_LiveApps(), None)


@pytest.fixture
def incident(db) -> Incident:
    """The 2023-02-24 incident as its data migration creates it (re-created after a transactional
    test's flush has emptied the tables)."""
    if not Incident.objects.filter(code=INCIDENT_CODE).exists():
        create_incident()
    return Incident.objects.get(code=INCIDENT_CODE)
