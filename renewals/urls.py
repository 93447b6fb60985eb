from django.urls import path

from . import views

app_name = "renewals"
urlpatterns = [
    path("<int:esim_pk>/", views.settings_page, name="settings"),
    path("<int:esim_pk>/off/", views.switch_off, name="off"),
]
