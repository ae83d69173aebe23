#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the modules with pure logic, against their unit
# tests only (cargo test --lib): the CSV dialect and cell encodings, file names, hashing,
# the manifest, its validation and the dump's verification, the audit chain, chunk key
# ranges, identifier mapping and load order, and the --create-schema type mapping and
# DDL. Functions that need a database (chunk planning, catalog queries) are left out: the
# integration tests cover them. One job and a timeout, so it can share a small machine.
#   scripts/mutants.sh                 the whole scope (about two hours on 2 cores)
#   scripts/mutants.sh --file src/dump/csv.rs    only that file (repeatable)
#   other arguments go to cargo mutants as they are, e.g. --list
# Results: target/mutants.out/ (caught.txt, missed.txt, unviable.txt, timeout.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
    exit 2
fi
files=(
    src/dump/csv.rs
    src/dump/encoding.rs
    src/dump/names.rs
    src/dump/hashing.rs
    src/dump/manifest.rs
    src/dump/validate.rs
    src/dump/verify.rs
    src/audit.rs
    src/source/mysql/chunk.rs
    src/target/catalog.rs
    src/target/names.rs
    src/target/typemap/mod.rs
    src/target/typemap/mysql.rs
    src/target/typemap/sqlite.rs
    src/target/typemap/mongo.rs
    src/target/ddl.rs
)
# Files given with --file replace the whole scope.
args=()
for a in "$@"; do
    if [ "$a" = --file ]; then files=(); break; fi
done
for f in "${files[@]}"; do args+=(--file "$f"); done
# No debug info: each mutant builds faster and the scratch copy stays small.
export CARGO_PROFILE_TEST_DEBUG=0 CARGO_PROFILE_DEV_DEBUG=0
# Functions that only run against a live server.
exclude='(chunk\.rs:.*\b(plan|raw_values)\b)|(catalog\.rs:.*\b(schema_exists|tables|owned_sequences|deferrable_indexes|foreign_keys|cascade_reach|row_count|session|lock_holders|take_import_lock)\b)'
exec cargo mutants "${args[@]}" --exclude-re "$exclude" -j 1 --timeout 120 \
    --cargo-arg=--lib --output target "$@"
