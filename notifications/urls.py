from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("account/notifications/", views.preferences, name="preferences"),
    path("n/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("n/skip-renewal/<str:token>/", views.skip_renewal, name="skip_renewal"),
    path("m/<int:pk>", views.message_go, name="go"),
]
