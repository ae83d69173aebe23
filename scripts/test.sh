#!/usr/bin/env bash
# The whole test suite against real databases: installs and starts throwaway MariaDB and
# PostgreSQL (scripts/dev-db.sh), then runs every test. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/dev-db.sh start)"
cargo test --locked "$@"
