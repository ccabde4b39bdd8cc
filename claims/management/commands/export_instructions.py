"""python manage.py export_instructions --out FILE"""

from claims.management.commands._export import ExportCommand
from claims.services.exports import INSTRUCTION_COLUMNS, instruction_rows


class Command(ExportCommand):
    help = "Write instructions.csv for the platform: extensions and reinstatements, with stable ids."
    columns = INSTRUCTION_COLUMNS
    rows = staticmethod(instruction_rows)
