#!/usr/bin/env bash
# Append a manual event to the audit trail (csv_exports/migration_log.jsonl, or
# WAYBILL_AUDIT_LOG):
#   scripts/log_migration_run.sh <started|in_progress|completed|rolled_back|failed> [message]
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 <started|in_progress|completed|rolled_back|failed> [message]" >&2
    exit 2
fi
. "$(dirname "$0")/lib.sh"
waybill_bin waybill-log "$@"
