#!/usr/bin/env bash
# The demo: a two-step MySQL-to-PostgreSQL migration against throwaway local databases,
# following the README runbook. It starts MariaDB and PostgreSQL (scripts/dev-db.sh),
# generates a sample shop database, creates the target schema, then: logs the start,
# exports, verifies the dump with sha256sum, imports, compares row counts, logs
# completion and verifies the audit trail.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

echo "== starting the throwaway MariaDB and PostgreSQL servers (scripts/dev-db.sh)" >&2
eval "$(scripts/dev-db.sh start)"
if [ -x target/release/waybill-export ] && [ -x target/release/waybill-import ] && [ -x target/release/waybill-log ]; then
    echo "== building waybill (release; only what changed since the last build)" >&2
else
    echo "== building waybill (release): the first build compiles every dependency and takes a few minutes; cargo's progress follows" >&2
fi
cargo build --release --bins

MY=${WAYBILL_TEST_MYSQL_URL}
PG=${WAYBILL_TEST_POSTGRES_URL}
# The demo's own settings; a real migration keeps them in .env (see .env.example).
export WAYBILL_SOURCE="$MY/waybill_demo"
export WAYBILL_TARGET="$PG/waybill_demo"
export WAYBILL_AUDIT_LOG="$ROOT/csv_exports/migration_log.jsonl"

mysql_cli() {
    local rest=${MY#mysql://} user pass hostport
    user=${rest%%:*}; rest=${rest#*:}; pass=${rest%%@*}; hostport=${rest#*@}
    mariadb --no-defaults -h "${hostport%%:*}" -P "${hostport##*:}" -u "$user" -p"$pass" "$@"
}
pg_cli() { psql "$PG/$1" -X -q -v ON_ERROR_STOP=1 "${@:2}"; }

echo "== generating the sample source database waybill_demo (MariaDB)" >&2
mysql_cli < scripts/demo/seed.sql
echo "== creating the target schema (PostgreSQL)" >&2
pg_cli postgres -c "DROP DATABASE IF EXISTS waybill_demo WITH (FORCE)" -c "CREATE DATABASE waybill_demo"
pg_cli waybill_demo -f scripts/demo/target_schema.sql

RUN=$(scripts/waybill log started "demo migration: waybill_demo to PostgreSQL")
export WAYBILL_RUN_ID=$RUN

echo "== step 1: export" >&2
DUMP=$(scripts/waybill export | tail -n 1)

echo "== verifying the dump with standard tools: sha256sum -c SHA256SUMS" >&2
(cd "$DUMP" && sha256sum -c --quiet SHA256SUMS) && echo "all files match SHA256SUMS" >&2

echo "== step 2: import" >&2
scripts/waybill import "$DUMP"

echo "== row counts, source vs target" >&2
printf '%-12s %10s %10s\n' table mariadb postgresql >&2
for t in customer product orders order_item; do
    src=$(mysql_cli -N -e "SELECT COUNT(*) FROM waybill_demo.$t")
    dst=$(pg_cli waybill_demo -At -c "SELECT count(*) FROM $t")
    printf '%-12s %10s %10s\n' "$t" "$src" "$dst" >&2
    [ "$src" = "$dst" ] || { scripts/waybill log failed "row count mismatch in $t"; exit 1; }
done

scripts/waybill log completed "demo migration verified: row counts equal" >/dev/null
echo "== audit trail" >&2
scripts/waybill log verify
scripts/waybill log show --run "$RUN"
echo "dump: $DUMP"
