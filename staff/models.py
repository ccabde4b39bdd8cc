from axes.models import AccessAttempt


class LoginLockout(AccessAttempt):
    """django-axes' failed sign-in attempts, named in Japanese for the supervisor's unlock page."""

    class Meta:
        proxy = True
        verbose_name = "ログインのロック"
        verbose_name_plural = "ログインのロック"
