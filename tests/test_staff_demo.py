"""`make run`'s demo accounts: one per role, each printed with its TOTP key and a spare code that
signs in over HTTP."""

from __future__ import annotations

import io
import re

import pytest
from django.test import Client

from claims.management.commands.setup_demo import ACCOUNTS, Command

pytestmark = pytest.mark.django_db


def test_each_demo_account_prints_a_working_second_factor() -> None:
    out = io.StringIO()
    Command(stdout=out)._accounts()
    printed = out.getvalue()

    for username, password, _role in ACCOUNTS:
        line = next(line for line in printed.splitlines() if line.strip().startswith(username + " "))
        assert re.search(r"TOTP [A-Z2-7]{16,}", line)
        spare = re.search(r"予備コード (\S+)", line).group(1)
        client = Client()
        response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
        assert response.status_code == 302, username
        assert client.post("/admin/second-factor/", {"token": spare}).status_code == 302, username
        assert client.get("/admin/").status_code == 200, username

    # Run again (every `make run`): the accounts stay, a used spare code is replaced by the next
    again = io.StringIO()
    Command(stdout=again)._accounts()
    assert again.getvalue().count("予備コード") == len(ACCOUNTS)
