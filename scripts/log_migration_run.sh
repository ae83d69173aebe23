#!/usr/bin/env bash
# Append a manual event to the audit trail (csv_exports/migration_log.jsonl, or
# WAYBILL_AUDIT_LOG), or review and check it: every argument goes to waybill-log, so
# `show` and `verify` pass through too.
#   scripts/log_migration_run.sh <started|in_progress|completed|rolled_back|failed> [message]
#   scripts/log_migration_run.sh show [--run ID] [--status S] [--since TIME] [--json]
#   scripts/log_migration_run.sh verify
set -euo pipefail
if [ $# -lt 1 ]; then
    cat >&2 <<USAGE
usage: $0 <started|in_progress|completed|rolled_back|failed> [message]
       $0 show [--run ID] [--status S] [--since TIME] [--json]
       $0 verify
(every argument goes to waybill-log; scripts/waybill log ... does the same)
USAGE
    exit 2
fi
. "$(dirname "$0")/lib.sh"
waybill_bin waybill-log "$@"
