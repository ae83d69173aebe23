#!/usr/bin/env bash
# Prove the values, read-only, with waybill-verify. The connections come from .env
# (WAYBILL_SOURCE / WAYBILL_TARGET or the MYSQL_* / POSTGRES_* settings):
#   scripts/verify_migration.sh <dump_dir>              the dump against its manifest (after a copy)
#   scripts/verify_migration.sh <dump_dir> --target     the dump against what PostgreSQL holds
#   scripts/verify_migration.sh <dump_dir> --source     the dump against the live source (cut-over)
#   scripts/verify_migration.sh --source --target       the live source against the live target
# Any other waybill-verify option may follow (--tables, --exclude, --json, --quiet ...).
# Exit code 0 only when everything is equal.
set -euo pipefail
if [ $# -lt 1 ]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
. "$(dirname "$0")/lib.sh"
waybill_bin waybill-verify "$@"
