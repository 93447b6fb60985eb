#!/bin/sh
# One-shot step that web, worker and beat wait for (docker-compose.yml, service
# "migrate"): one container applies migrations, so any number of web containers can
# start at once without racing on the schema.
set -eu

python manage.py migrate --noinput
# The staff groups "Support agent" and "Catalogue manager" (docs/support-desk.md).
python manage.py support_roles

# LOAD_DEMO=true adds the demo catalogue and the published demo logins (idempotent).
case "${LOAD_DEMO:-false}" in
    1 | true | yes | on) python manage.py loaddemo ;;
esac
