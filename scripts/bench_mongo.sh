#!/usr/bin/env bash
# MongoDB source benchmark: memory stays flat however large a collection is.
#
#   scripts/bench_mongo.sh              128 MB, then 1024 MB (about 1 GB) of BSON
#   scripts/bench_mongo.sh N [M...]     the given sizes in MB only
#
# For each size it generates a mongodump collection (`events.bson` plus its
# `events.metadata.json`) with scripts/bench/gen_mongodump.py: documents of about
# 770 bytes with an ObjectId, strings, int32, int64, double, Decimal128, date, bool,
# binary, a sub-document and an array of four sub-documents. Then it runs, once each:
#
#   export doc        waybill-export --source mongodump://DIR   (_id + doc jsonb)
#   export flatten    waybill-export --source mongodump://DIR --flatten
#   import doc        waybill-import --create-schema of the first dump
#   import flatten    waybill-import --create-schema of the second dump
#
# and prints wall seconds, documents/s, MB/s (BSON bytes / 10^6 / seconds) and peak
# RSS (GNU time's maximum resident set of the waybill process; MB = 10^6 bytes). The
# export reads every document twice (the pass that infers the columns, then the
# write), so its MB/s counts the BSON once. The last table puts the sizes side by side:
# peak RSS should not grow with the data. Nothing is asserted.
#
# PostgreSQL: scripts/dev-db.sh (started if needed, never stopped); database
# `waybill_bench_mongo`, dropped and recreated per import. Generated files and dumps go
# to a temporary directory under ${TMPDIR:-/tmp}, removed at the end (about 4x the
# largest size on disk while it runs).
#
# Settings (environment):
#   WAYBILL_BENCH_NO_BUILD=1      use target/release/* as they are (no cargo build)
#   WAYBILL_BENCH_KEEP=1          keep the temporary directory and the database
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "bench_mongo: $*" >&2; }
die() { say "error: $*"; exit 1; }

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(128 1024)
for s in "${SIZES[@]}"; do
    [[ $s =~ ^[1-9][0-9]*$ ]] || die "sizes are positive integers (MB), not $s"
done
command -v python3 >/dev/null || die "python3 is needed to generate the collection"
[ -x /usr/bin/time ] || die "GNU time is needed (apt-get install time)"

if [ "${WAYBILL_BENCH_NO_BUILD:-0}" != 1 ]; then
    say "building waybill (cargo build --release)"
    (cd "$ROOT" && cargo build --release --bins) >&2
fi
EXPORT_BIN=$ROOT/target/release/waybill-export
IMPORT_BIN=$ROOT/target/release/waybill-import

eval "$("$ROOT/scripts/dev-db.sh" start)"
PG_URL=${WAYBILL_TEST_POSTGRES_URL:-postgresql://waybill:waybill@127.0.0.1:55432}
DB=waybill_bench_mongo

WORK=$(mktemp -d "${TMPDIR:-/tmp}/waybill-bench-mongo.XXXXXX")
cleanup() {
    if [ "${WAYBILL_BENCH_KEEP:-0}" = 1 ]; then
        say "kept $WORK and database $DB"
    else
        rm -rf "$WORK"
        psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

now_ns() { date +%s%N; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }

# measure STEP CMD...: sets SECS and RSS_MB; fails the benchmark if CMD fails.
measure() {
    local step=$1; shift
    local t0 t1
    sync
    t0=$(now_ns)
    /usr/bin/time -f '%M' -o "$WORK/$step.time" "$@" >"$WORK/$step.out" 2>"$WORK/$step.err" ||
        { cat "$WORK/$step.err" >&2; die "$step failed"; }
    t1=$(now_ns)
    SECS=$(calc "($t1 - $t0) / 1e9")
    RSS_MB=$(calc "$(tail -n 1 "$WORK/$step.time") * 1024 / 1e6")
}

SUMMARY=()
for size in "${SIZES[@]}"; do
    dir=$WORK/$size/dump/bench
    say "generating $size MB of BSON in $dir"
    gen=$(python3 "$ROOT/scripts/bench/gen_mongodump.py" "$dir" "$size")
    docs=${gen%% documents*}
    bytes=$(stat -c %s "$dir/events.bson")
    mb=$(calc "$bytes / 1e6")
    printf '\n%s MB of BSON, %s documents\n' "${mb%.*}" "$docs"
    printf '%-16s %10s %12s %8s %12s\n' step seconds docs/s MB/s "peak RSS MB"
    for shape in doc flatten; do
        flag=()
        [ $shape = flatten ] && flag=(--flatten)
        measure "export_${shape}_$size" "$EXPORT_BIN" --source "mongodump://$dir" \
            --out "$WORK/$size/out_$shape" --audit-log "$WORK/audit.jsonl" -q "${flag[@]}"
        dump=$(tail -n 1 "$WORK/export_${shape}_$size.out")
        printf '%-16s %10.2f %12.0f %8.1f %12.1f\n' "export $shape" "$SECS" \
            "$(calc "$docs / $SECS")" "$(calc "$mb / $SECS")" "$RSS_MB"
        SUMMARY+=("$size export_$shape $RSS_MB")
        psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
        measure "import_${shape}_$size" "$IMPORT_BIN" --target "$PG_URL/$DB" "$dump" \
            --create-schema --no-side-files --audit-log "$WORK/audit.jsonl" -q
        loaded=$(psql -X -At "$PG_URL/$DB" -c "SELECT count(*) FROM events")
        [ "$loaded" = "$docs" ] || die "loaded $loaded rows, expected $docs"
        printf '%-16s %10.2f %12.0f %8.1f %12.1f\n' "import $shape" "$SECS" \
            "$(calc "$docs / $SECS")" "$(calc "$mb / $SECS")" "$RSS_MB"
        SUMMARY+=("$size import_$shape $RSS_MB")
        rm -rf "$WORK/$size/out_$shape"
    done
    rm -rf "$WORK/$size"
done

printf '\npeak RSS (MB) by size\n%-16s' step
for size in "${SIZES[@]}"; do printf ' %10s' "${size} MB"; done
printf '\n'
for step in export_doc export_flatten import_doc import_flatten; do
    printf '%-16s' "$step"
    for size in "${SIZES[@]}"; do
        for line in "${SUMMARY[@]}"; do
            read -r s st rss <<<"$line"
            [ "$s" = "$size" ] && [ "$st" = "$step" ] && printf ' %10.1f' "$rss"
        done
    done
    printf '\n'
done
