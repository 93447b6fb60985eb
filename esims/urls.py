from django.urls import path

from . import views

app_name = "esims"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("<int:pk>/install/", views.install, name="install"),
    path("<int:pk>/rename/", views.rename, name="rename"),
]
