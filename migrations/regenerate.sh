#!/usr/bin/env bash
# Rebuild the initial revision from the models (allowed only while nothing has been released:
# once a database in the field has run 0001, add new revisions instead).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/0001_initial_schema.py
DATABASE_URL="sqlite:///$tmp/gen.db" .venv/bin/flask --app wsgi db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>&1
.venv/bin/python migrations/postprocess.py migrations/versions/0001_initial_schema.py
rm -rf "$tmp"
echo "regenerated migrations/versions/0001_initial_schema.py"
