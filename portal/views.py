from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET


@require_GET
def home(request):
    """What the service is, for visitors; signed-in customers go to their eSIMs."""
    if request.user.is_authenticated:
        return redirect("esims:dashboard")
    return render(request, "portal/home.html")
