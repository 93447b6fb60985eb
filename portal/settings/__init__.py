"""Settings modules: base (shared), production, dev (`make run`), test (pytest).

Every entry point (manage.py, the Celery app, the WSGI app) falls back to the same one,
production: a process started by hand on a server then refuses to run without its
secrets instead of quietly allowing simulated payments. Development entry points
(Makefile, Procfile.dev) ask for portal.settings.dev by name.
"""

DEFAULT_SETTINGS_MODULE = "portal.settings.production"
