from django.urls import path

from . import views

app_name = "plans"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    # Two segments, so that no plan code can ever be taken for it.
    path("currency/set/", views.set_currency, name="set_currency"),
    path("<slug:code>/", views.plan_detail, name="detail"),
]
