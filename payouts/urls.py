from django.urls import path

from payouts import views

app_name = "payouts"

urlpatterns = [
    path("stop/<str:signed>", views.reminders_stop, name="reminders_stop"),
    path("<str:token>", views.receipt, name="receipt"),
]
