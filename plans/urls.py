from django.urls import path

from . import views

app_name = "plans"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("<slug:code>/", views.plan_detail, name="detail"),
]
