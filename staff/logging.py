import logging


class RefusalWithoutTraceback(logging.Filter):
    """A 403 is the permission system working, not an error: log one line, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
