from django.urls import path

from claims.site import views

app_name = "site"

urlpatterns = [
    path("", views.landing, name="landing"),
]
