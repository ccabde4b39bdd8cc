from django.urls import path

from payouts import views

app_name = "payouts"

urlpatterns = [
    path("<str:token>", views.receipt, name="receipt"),
]
