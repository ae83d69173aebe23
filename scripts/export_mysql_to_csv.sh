#!/usr/bin/env bash
# Step 1 of the migration: dump the MySQL/MariaDB database named in .env
# (WAYBILL_SOURCE or MYSQL_*) to csv_exports/<db>/<timestamp>/. Prints the dump
# directory as the last line. Extra arguments go to waybill-export.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
waybill_bin waybill-export "$@"
