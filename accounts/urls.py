from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("", views.account, name="account"),
    path("preferences/", views.preferences, name="preferences"),
    path("language/", views.set_language, name="set_language"),
    path("data/", views.data_export, name="data_export"),
    path("close/", views.close, name="close"),
    path("closed/", views.closed, name="closed"),
    path("sessions/<int:pk>/end/", views.session_end, name="session_end"),
]
