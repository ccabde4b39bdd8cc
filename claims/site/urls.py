from django.urls import path, re_path

from claims.site import views
from claims.site.wizard import ApplicationWizard

app_name = "site"

wizard = ApplicationWizard.as_view(url_name="site:apply_step")

urlpatterns = [
    path("", views.landing, name="landing"),
    path("apply/", wizard, name="apply"),
    path("apply/code/", views.apply_code, name="apply_code"),
    path("apply/code/resend/", views.apply_code_resend, name="apply_code_resend"),
    path("apply/complete/", views.apply_complete, name="apply_complete"),
    re_path(r"^apply/(?P<step>[a-z_]+)/$", wizard, name="apply_step"),
    path("status/", views.status_lookup, name="status"),
]
