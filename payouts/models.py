"""payouts: money leaving the portal (see ../shared/DESIGN.md).

So far it holds the portal's own bank account, which the header of every Zengin transfer file
names (依頼人). Payouts, batches and their approvals come with issue #10's later parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from claims.banking.banks import AccountType

if TYPE_CHECKING:
    from payouts.zengin import Requester

# The Zengin character set (claims.banking.kana), as a PostgreSQL regular expression.
ZENGIN_TEXT_RE = r"^[0-9A-Zｱ-ﾝﾞﾟ().\- ]*$"


class RequesterAccount(models.Model):
    """依頼人: the account the bank pays transfers from, as the Zengin file's header gives it.

    Data, not settings: one row per incident, seeded with demo values by a migration, corrected
    by operations in the admin with every change kept (who, when, from what to what).
    """

    class AccountTypes(models.TextChoices):
        ORDINARY = AccountType.ORDINARY.value, "普通"
        CURRENT = AccountType.CURRENT.value, "当座"
        SAVINGS = AccountType.SAVINGS.value, "貯蓄"

    incident = models.OneToOneField(
        "claims.Incident", on_delete=models.PROTECT, related_name="requester_account", verbose_name="障害"
    )
    requester_code = models.CharField(
        "依頼人コード", max_length=10, help_text="銀行から割り当てられた10桁までの番号（総合振込の契約時）"
    )
    requester_name = models.CharField(
        "依頼人名", max_length=40, help_text="全銀形式の半角カナ（40バイトまで）。振込先の通帳に表示されます"
    )
    bank_code = models.CharField("銀行コード", max_length=4)
    branch_code = models.CharField("支店コード", max_length=3)
    account_type = models.CharField("預金種目", max_length=10, choices=AccountTypes.choices)
    account_number = models.CharField("口座番号", max_length=7)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "振込依頼人（当方の口座）"
        verbose_name_plural = "振込依頼人（当方の口座）"
        constraints = [
            models.CheckConstraint(
                condition=Q(requester_code__regex=r"^[0-9]{1,10}$"), name="requesteraccount_code_digits"
            ),
            models.CheckConstraint(
                condition=Q(requester_name__regex=ZENGIN_TEXT_RE) & ~Q(requester_name=""),
                name="requesteraccount_name_zengin",
            ),
            models.CheckConstraint(
                condition=Q(bank_code__regex=r"^[0-9]{4}$"), name="requesteraccount_bank_code_digits"
            ),
            models.CheckConstraint(
                condition=Q(branch_code__regex=r"^[0-9]{3}$"), name="requesteraccount_branch_code_digits"
            ),
            models.CheckConstraint(
                condition=Q(account_type__in=[t.value for t in AccountType]),
                name="requesteraccount_account_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(account_number__regex=r"^[0-9]{7}$"), name="requesteraccount_number_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requester_name}（{self.bank_code}-{self.branch_code}）"

    def as_requester(self) -> Requester:
        """The header's values, with the bank's and branch's Zengin names from zengin-code."""
        from claims.banking.banks import get_bank, get_branch
        from payouts.zengin import Requester

        bank, branch = get_bank(self.bank_code), get_branch(self.bank_code, self.branch_code)
        return Requester(
            code=self.requester_code,
            name=self.requester_name,
            bank_code=self.bank_code,
            bank_name=bank.zengin_name if bank else "",
            branch_code=self.branch_code,
            branch_name=branch.zengin_name if branch else "",
            account_type=AccountType(self.account_type),
            account_number=self.account_number,
        )
