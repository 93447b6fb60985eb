from django.urls import path

from . import views

app_name = "carrier"
urlpatterns = [
    path("gsma/rsp2/es2plus/handleDownloadProgressInfo", views.handle_download_progress_info,
         name="download_progress"),
    path("carrier/callbacks/usage", views.usage_callback, name="usage"),
]
