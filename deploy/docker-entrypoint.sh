#!/bin/sh
# The image's entrypoint: refuses to start without DATABASE_URL in production, then runs
# the command (`node --import tsx src/main.ts` by default, or `deploy/migrate.sh`, or
# `node bin/gatehouse.js …`). The image has no embedded PostgreSQL: without DATABASE_URL
# Gatehouse would try to start one, and fail with a less helpful message.
set -eu
if [ -z "${DATABASE_URL:-}" ] && [ "${NODE_ENV:-}" = "production" ]; then
  echo "DATABASE_URL is not set: this image runs against a PostgreSQL of your own (14 or newer)." >&2
  echo "Set DATABASE_URL=postgres://gatehouse_app:…@host:5432/gatehouse (docs/deploy.md, \"Database roles\")." >&2
  exit 1
fi
exec "$@"
