from django.urls import path

from . import stripe_views, views

app_name = "billing"
urlpatterns = [
    path("", views.order_list, name="orders"),
    path("receipts/", views.receipt_list, name="receipts"),
    path("receipts/<str:number>.pdf", views.receipt_download, name="receipt_pdf"),
    path("credit-notes/<str:number>.pdf", views.credit_note_download, name="credit_note_pdf"),
    path("new/<slug:plan_code>/", views.buy, name="buy"),
    path("renew/<int:esim_pk>/", views.renew, name="renew"),
    path("topup/<int:esim_pk>/", views.topup, name="topup"),
    path("cards/add/", views.card_add, name="card_add"),
    path("cards/<int:pk>/remove/", views.card_remove, name="card_remove"),
    path("cards/<str:reference>/return/", views.card_setup_return, name="card_setup_return"),
    path("gateway/stripe/card/<str:reference>/", stripe_views.stripe_card_setup,
         name="stripe_card_setup"),
    path("gateway/stripe/<str:reference>/", stripe_views.stripe_pay, name="stripe_pay"),
    path("gateway/simulated/card/<str:reference>/", views.simulated_card,
         name="simulated_card"),
    path("gateway/simulated/<str:reference>/", views.simulated_gateway,
         name="simulated_gateway"),
    path("gateway/simulated/<str:reference>/authenticate/", views.simulated_authenticate,
         name="simulated_authenticate"),
    path("<str:number>/", views.order_detail, name="order"),
    path("<str:number>/progress/", views.order_progress, name="order_progress"),
    path("<str:number>/cancel/", views.order_cancel, name="order_cancel"),
    path("<str:number>/pay/", views.pay, name="pay"),
    path("<str:number>/return/<int:payment_id>/", views.payment_return, name="payment_return"),
]
