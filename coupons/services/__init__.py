"""Writes and queries of the platform mirror. Views, admin, tasks and commands call these."""
