#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    # Development: DJANGO_SETTINGS_MODULE=portal.settings.dev (the Makefile sets it).
    from portal.settings import DEFAULT_SETTINGS_MODULE

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS_MODULE)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
