from django.urls import path

from . import views

app_name = "support"
urlpatterns = [
    path("", views.ticket_list, name="tickets"),
    path("new/", views.ticket_new, name="ticket_new"),
    path("order/<str:number>/", views.ticket_about_order, name="ticket_about_order"),
    path("<int:pk>/", views.ticket_detail, name="ticket"),
    path("screenshots/<int:pk>/", views.ticket_attachment, name="ticket_attachment"),
]
