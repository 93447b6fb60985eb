# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
CARRIER_PORT ?= 8100
# manage.py and Celery default to production settings (portal/settings/__init__.py), so
# every development command here names its settings. By hand:
#   DJANGO_SETTINGS_MODULE=portal.settings.dev .venv/bin/python manage.py <command>
DEV := DJANGO_SETTINGS_MODULE=portal.settings.dev
# Production settings refuse published or missing secrets: `check` makes random ones.
# It also warns about a placeholder receipt issuer (portal/checks.py), so it names one
# that reads as real; a deployment sets its own in .env.
CHECK_ISSUER := RECEIPT_ISSUER_NAME='Nordlicht Mobile GmbH' \
	RECEIPT_ISSUER_ADDRESS='Friedrichstrasse 68|10117 Berlin|Germany'
RANDOM_SECRET := python3 -c 'import secrets; print(secrets.token_urlsafe(50))'

.PHONY: run test install lint check messages clean bench axe

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "Could not create a virtual environment with $(PYTHON)."; \
	  echo "On Debian: sudo apt-get install python3-venv (Python 3.11 is required)."; exit 1; }

# Reinstall only when the lock file changes; hashes make the install reproducible.
$(VENV)/.installed: requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV) $(BIN)/python manage.py migrate --noinput
	$(DEV) $(BIN)/python manage.py loaddemo
	@echo
	@echo "  eSIM Portal is starting on http://127.0.0.1:$(PORT)/"
	@echo "  Demo customer: demo@example.com / demo-esim-2026"
	@echo "  Support agent (sign in, then the admin at http://127.0.0.1:$(PORT)/staff/): support@example.com / support-esim-2026"
	@echo "  Help centre: http://127.0.0.1:$(PORT)/help/"
	@echo "  Emails (sign-up confirmation, password reset) are printed below by the web process."
	@echo "  The demo customer's household (a phone at 80% with two days left, an auto-renewing"
	@echo "  tablet, a watch that ended last week, an eSIM ready to install) is made in a moment;"
	@echo "  its reminders and data alerts, by email and SMS, are printed below by the worker."
	@echo "  Sweep schedules: http://127.0.0.1:$(PORT)/staff/django_celery_beat/periodictask/"
	@echo "  Carrier simulator: http://127.0.0.1:$(CARRIER_PORT)/sim/health   Stop everything with Ctrl-C."
	@echo
	$(DEV) WEB_PORT=$(PORT) CARRIER_PORT=$(CARRIER_PORT) CARRIER_URL=http://127.0.0.1:$(CARRIER_PORT) \
		PORTAL_BASE_URL=$${PORTAL_BASE_URL:-http://127.0.0.1:$(PORT)} \
		$(BIN)/honcho start -f Procfile.dev

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(DEV) $(BIN)/python manage.py makemigrations --check --dry-run

check: lint
	DJANGO_SETTINGS_MODULE=portal.settings.production SECRET_KEY=$$($(RANDOM_SECRET)) \
		CARRIER_API_KEY=$$($(RANDOM_SECRET)) CARRIER_CALLBACK_SECRET=$$($(RANDOM_SECRET)) \
		$(CHECK_ISSUER) $(BIN)/python manage.py check --deploy --fail-level WARNING

# Extract and compile translations (needs GNU gettext); the compiled files are committed
# so that a fresh machine needs no gettext to run the portal.
messages: install
	$(DEV) $(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --ignore=.venv --ignore=var \
		--ignore=carrier_sim --ignore=tests --ignore=bench
	$(DEV) $(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

# axe-core for the accessibility tests is pinned in package.json and package-lock.json and
# vendored in tests/browser/vendor/, so `make test` needs neither npm nor the network.
# After changing the pin: `make axe`, then commit package*.json and tests/browser/vendor/.
axe:
	npm ci --no-audit --no-fund
	cp node_modules/axe-core/axe.min.js tests/browser/vendor/axe.min.js
	cp node_modules/axe-core/LICENSE tests/browser/vendor/axe-core.LICENSE

bench: install
	$(BIN)/python bench/pages.py

clean:
	rm -rf var .pytest_cache
