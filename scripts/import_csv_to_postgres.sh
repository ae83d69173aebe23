#!/usr/bin/env bash
# Step 2 of the migration: verify a dump and load it into the PostgreSQL database named
# in .env (WAYBILL_TARGET or POSTGRES_*), all or nothing.
#   scripts/import_csv_to_postgres.sh <dump_dir> [waybill-import options]
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 <dump_dir> [waybill-import options]" >&2
    exit 2
fi
. "$(dirname "$0")/lib.sh"
waybill_bin waybill-import "$@"
