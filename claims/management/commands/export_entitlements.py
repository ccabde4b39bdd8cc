"""python manage.py export_entitlements --out FILE"""

from claims.management.commands._export import ExportCommand
from claims.services.exports import ENTITLEMENT_COLUMNS, entitlement_rows


class Command(ExportCommand):
    help = "Write entitlements.csv: one row per coupon and group found (see regionpay-exchange.md)."
    columns = ENTITLEMENT_COLUMNS
    rows = staticmethod(entitlement_rows)
