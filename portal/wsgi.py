import os

from django.core.wsgi import get_wsgi_application

from portal.settings import DEFAULT_SETTINGS_MODULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS_MODULE)

application = get_wsgi_application()
