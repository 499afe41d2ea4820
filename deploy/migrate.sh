#!/bin/sh
# One release's schema step, run as the schema owner (DATABASE_URL=…gatehouse_owner…)
# before the new version's replicas start: apply the migrations, then give the app role
# what sql/least-privilege.sql grants (new tables included). Safe to run again, and from
# several places at once (the migrator takes an advisory lock). docs/deploy.md, "Upgrades".
set -eu
cd "$(dirname "$0")/.."
node bin/gatehouse.js migrate
node deploy/run-sql.mjs sql/least-privilege.sql
