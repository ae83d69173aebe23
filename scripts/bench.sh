#!/usr/bin/env bash
# waybill benchmark: one command, same data, same run, waybill against the status quo.
#
#   scripts/bench.sh            SCALE 1 then SCALE 4 (about 6 minutes on 2 cores)
#   scripts/bench.sh N [M...]   the given scales only (positive integers)
#
# For each scale it generates a data set inside MariaDB with scripts/bench/generate.sql
# (SCALE 1 = about 200,000 rows and 100 MB of CSV; rows and bytes grow linearly):
# wide char(36)-UUID-keyed policy rows with JSON and '' parents, 256 B-4 KiB blobs, a
# decimal ledger with a bigint unsigned AUTO_INCREMENT key, and awkward text (commas,
# quotes, CR/LF, tabs, backslashes, emoji, literal NULL and \N, empty strings). Then it
# times five steps, one after the other, on that data:
#
#   baseline export   `mariadb --quick --batch -e "SELECT * FROM db.t" > /dev/null`
#                     for each table in turn: the streaming dump people use today
#   waybill-export    the full dump: typed CSV files, manifest, SHA256SUMS
#   baseline import   one psql session, one transaction, `\copy t (cols) FROM 'file'
#                     WITH (FORMAT csv, HEADER true, NULL '\N')` for every CSV file of
#                     waybill's dump, into tables made from scripts/bench/target_schema.sql
#   waybill-import    the same dump into a fresh copy of the same schema, all or nothing
#                     (one transaction); also timed with --jobs 2 (two tables at a time,
#                     each committing on its own: not all or nothing, like pgloader)
#   pgloader          MySQL -> PostgreSQL in one go (schema, data, indexes), with the
#                     settings in scripts/bench/pgloader.load; skipped if not installed
#   waybill-import --verify   the same import, every table read back and compared with
#                     the dump before COMMIT (timed alongside the plain import)
#   waybill-verify --source --target   the live source against the loaded target, value
#                     by value (timed after the imports; compared with waybill-export of
#                     the same tables)
#
# How to read the output
#   seconds    wall-clock time of the step's client process(es): the median of 5 runs
#              (WAYBILL_BENCH_REPEAT), 3 for pgloader (WAYBILL_BENCH_PGLOADER_REPEAT).
#              Baseline and waybill runs alternate (A B B A A ...) so that drifting
#              load hits both alike; each import run loads into a freshly created
#              database. Single runs vary by 10-20% on a small VM: compare medians.
#   rows/s     rows in the data set / seconds.
#   MB/s       bytes of waybill's CSV dump / 10^6 / seconds, for every step (the same
#              numerator, so the column compares like with like; it is not what each
#              tool moved on the wire).
#   peak RSS   maximum resident set of the client (GNU time -v "Maximum resident set
#              size"; for the baseline export the largest of the mariadb clients).
#              Server memory is not counted. MB = 10^6 bytes.
#   check      rows found in the target afterwards against the source count.
#   Ratios     waybill / baseline and waybill / pgloader: below 1 means waybill is
#              faster; import --verify / import (target at most 1.5: verifying adds at
#              most half the import's own time); verify --source --target / export
#              (target at most 1.0). The targets are printed next to them; nothing is
#              asserted.
#   Scales     the last table puts the scales side by side: microseconds per row should
#              stay about flat (time grows linearly) and waybill's peak RSS should not
#              grow with the data.
# Between steps the script runs `sync` and a PostgreSQL CHECKPOINT (not timed) so one
# step does not pay for the previous one's writes. The MariaDB buffer pool (1 GB) holds
# the freshly generated data, so both exports read from memory.
#
# Databases used (dropped and recreated per scale, dropped at the end): MariaDB
# `waybill_bench`; PostgreSQL `waybill_bench_baseline`, `waybill_bench_waybill`,
# `waybill_bench_pgloader`. Servers: scripts/dev-db.sh (started if needed, never
# stopped). Dumps, logs and audit logs go to a temporary directory under ${TMPDIR:-/tmp},
# removed at the end.
#
# Settings (environment):
#   WAYBILL_BENCH_JOBS=N          pass --jobs N to waybill-export (default: its own)
#   WAYBILL_BENCH_NO_BUILD=1      use target/release/* as they are (no cargo build)
#   WAYBILL_BENCH_BIN_DIR=DIR     take waybill-export/-import from DIR (no cargo build)
#   WAYBILL_BENCH_REPEAT=N        runs of each step but pgloader (default 5; the median
#                                 time and the largest RSS are reported)
#   WAYBILL_BENCH_PGLOADER_REPEAT=N   runs of pgloader (default 3)
#   WAYBILL_BENCH_PGLOADER=0      skip pgloader
#   WAYBILL_BENCH_PGLOADER_TIMEOUT=S   give up on pgloader after S seconds (default 1800)
#   WAYBILL_BENCH_KEEP=1          keep the temporary directory and the databases
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/scripts/bench
MY_DB=waybill_bench
PG_DBS=(waybill_bench_baseline waybill_bench_waybill waybill_bench_pgloader)
TABLES=()   # filled from the source after generation

say() { echo "bench: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
    echo "(the comment at the top of $0 says what it measures and how to read it)" >&2
    exit 2
}

REPEAT=${WAYBILL_BENCH_REPEAT:-5}
PGLOADER_REPEAT=${WAYBILL_BENCH_PGLOADER_REPEAT:-3}
for n in "$REPEAT" "$PGLOADER_REPEAT"; do
    case $n in *[!0-9]* | '' | 0*) die "WAYBILL_BENCH_REPEAT and WAYBILL_BENCH_PGLOADER_REPEAT must be positive integers" ;; esac
done
SCALES=()
for a in "$@"; do
    case $a in
    -h | --help) usage ;;
    *[!0-9]* | '' | 0) die "SCALE must be a positive integer, got '$a' (see --help)" ;;
    *) SCALES+=("$a") ;;
    esac
done
[ ${#SCALES[@]} -gt 0 ] || SCALES=(1 4)

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=
apt_install() {
    if [ -z "$APT_UPDATED" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------- tools and servers
need=()
[ -x /usr/bin/time ] || need+=(time)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} from Debian packages"
    apt_install "${need[@]}"
fi
PGLOADER_ON=${WAYBILL_BENCH_PGLOADER:-1}
PGLOADER_WHY=skipped
if [ "$PGLOADER_ON" != 0 ] && ! command -v pgloader >/dev/null 2>&1; then
    say "installing pgloader from Debian packages"
    apt_install pgloader || say "warning: could not install pgloader; its step will be skipped"
    command -v pgloader >/dev/null 2>&1 || { PGLOADER_ON=0; PGLOADER_WHY='not installed'; }
fi

eval "$("$ROOT/scripts/dev-db.sh" start)"
if [ -z "${WAYBILL_TEST_MYSQL_URL:-}" ] || [ -z "${WAYBILL_TEST_POSTGRES_URL:-}" ]; then
    die "scripts/dev-db.sh start did not give the connection URLs"
fi
MYSQL_URL=$WAYBILL_TEST_MYSQL_URL
PG_URL=$WAYBILL_TEST_POSTGRES_URL
# Every step connects without TLS (the dev servers offer it, and "prefer" clients would
# use it), so the figures compare the tools, not the encryption.
export PGSSLMODE=disable
NO_TLS_MY='?ssl-mode=DISABLED'
NO_TLS_PG='?sslmode=disable'
[[ $MYSQL_URL =~ ^mysql://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/?$ ]] ||
    die "cannot parse WAYBILL_TEST_MYSQL_URL"
MY_USER=${BASH_REMATCH[1]} MY_PASS=${BASH_REMATCH[2]} MY_HOST=${BASH_REMATCH[3]} MY_PORT=${BASH_REMATCH[4]}

# ---------------------------------------------------------------- helpers
my() { MYSQL_PWD=$MY_PASS mariadb --no-defaults -u"$MY_USER" -h"$MY_HOST" -P"$MY_PORT" --default-character-set=utf8mb4 "$@"; }
pg() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$PG_URL/$db" "$@"; }
pg_value() { local db=$1; shift; psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_URL/$db" -c "$@"; }

fresh_pg_db() {
    pg postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
}

settle() {
    sync
    pg postgres -c CHECKPOINT >/dev/null 2>&1 || true
    sleep 1
}

now_ns() { date +%s%N; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }

# measure STEP CMD...: runs CMD with stdout/stderr to $WORK/STEP.{out,err}; sets
# SECS, RSS_MB, RC.
measure() {
    local step=$1; shift
    local t0 t1
    t0=$(now_ns)
    RC=0
    /usr/bin/time -f '%M' -o "$WORK/$step.time" "$@" >"$WORK/$step.out" 2>"$WORK/$step.err" || RC=$?
    t1=$(now_ns)
    SECS=$(calc "($t1 - $t0) / 1e9")
    RSS_MB=$(calc "$(tail -n 1 "$WORK/$step.time" 2>/dev/null || echo 0) * 1024 / 1e6")
}

BIN_DIR=${WAYBILL_BENCH_BIN_DIR:-$ROOT/target/release}
EXPORT_BIN=$BIN_DIR/waybill-export
IMPORT_BIN=$BIN_DIR/waybill-import
VERIFY_BIN=$BIN_DIR/waybill-verify
if [ "${WAYBILL_BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${WAYBILL_BENCH_BIN_DIR:-}" ]; then
    say "building waybill (cargo build --release)"
    (cd "$ROOT" && cargo build --release --bins) >&2 ||
        die "cargo build --release failed (WAYBILL_BENCH_NO_BUILD=1 uses the binaries already in target/release)"
fi
[ -x "$EXPORT_BIN" ] || die "$EXPORT_BIN is missing (cargo build --release)"
IMPORT_ON=1
[ -x "$IMPORT_BIN" ] || { IMPORT_ON=0; say "warning: $IMPORT_BIN is not built: waybill-import will show as not available"; }
VERIFY_ON=1
[ -x "$VERIFY_BIN" ] || { VERIFY_ON=0; say "warning: $VERIFY_BIN is not built: waybill-verify will show as not available"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/waybill-bench.XXXXXX")
cleanup() {
    local rc=$?
    if [ "${WAYBILL_BENCH_KEEP:-0}" = 1 ]; then
        say "kept $WORK and the benchmark databases"
    else
        rm -rf "$WORK"
        my -e "DROP DATABASE IF EXISTS $MY_DB" 2>/dev/null || true
        local d
        for d in "${PG_DBS[@]}"; do
            pg postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS $d" 2>/dev/null || true
        done
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# R[scale:step:field] holds the results; fields: secs, rss, status, check.
declare -A R

record() { # scale step status [check]
    R[$1:$2:secs]=${SECS:-}
    R[$1:$2:rss]=${RSS_MB:-}
    R[$1:$2:status]=$3
    R[$1:$2:check]=${4:-}
}

show_err() { say "$1 failed (exit $RC); last lines of its output:"; tail -n 15 "$WORK/$2.err" "$WORK/$2.out" >&2 || true; }

# Rows in TABLES in a PostgreSQL database/schema, against the source count.
check_rows() { # db schema
    local total=0 t n
    for t in "${TABLES[@]}"; do
        n=$(pg_value "$1" "SELECT count(*) FROM \"$2\".\"$t\"" 2>/dev/null) || { echo "missing $t"; return; }
        total=$((total + n))
    done
    if [ "$total" = "$SRC_ROWS" ]; then echo "ok"; else echo "ROWS $total != $SRC_ROWS"; fi
}

STEPS=(base_export wb_export base_import wb_import wb_import_jobs wb_import_verify wb_verify_live pgloader)
declare -A LABEL=(
    [base_export]='baseline export (mariadb --quick)'
    [wb_export]='waybill-export'
    [base_import]='baseline import (psql \copy)'
    [wb_import]='waybill-import'
    [wb_import_jobs]='waybill-import --jobs 2'
    [wb_import_verify]='waybill-import --verify'
    [wb_verify_live]='waybill-verify --source --target'
    [pgloader]='pgloader (MySQL -> PostgreSQL)'
)

# run_once STEP PREP CMD...: PREP (untimed; `-` for none), settle, then CMD through
# measure; adds the time to RUNS[STEP] and keeps the largest RSS in PEAK[STEP]. After a
# failure the step is not run again (FAILED[STEP] holds the exit status).
declare -A RUNS PEAK FAILED
run_once() {
    local step=$1 prep=$2
    shift 2
    [ -z "${FAILED[$step]:-}" ] || return 0
    [ "$prep" = - ] || "$prep"
    settle
    measure "$step" "$@"
    if [ "$RC" != 0 ]; then FAILED[$step]=$RC; return 0; fi
    RUNS[$step]="${RUNS[$step]:-} $SECS"
    PEAK[$step]=$(calc "($RSS_MB > ${PEAK[$step]:-0}) ? $RSS_MB : ${PEAK[$step]:-0}")
}

# finish STEP: SECS = median of the runs, RSS_MB = largest peak, RC = 0; or RC = the
# failure's exit status.
finish() {
    local step=$1
    RC=${FAILED[$step]:-0}
    [ "$RC" = 0 ] || return 0
    # shellcheck disable=SC2086
    SECS=$(printf '%s\n' ${RUNS[$step]} | sort -g |
        awk '{ a[NR] = $1 } END { printf "%.6f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    RSS_MB=${PEAK[$step]}
    # shellcheck disable=SC2086
    [ "$REPEAT" = 1 ] || say "    ${LABEL[$step]}: runs $(printf '%.2f ' ${RUNS[$step]})s -> median $(printf '%.2f' "$SECS") s"
}

run_base_import() {
    run_once base_import prep_base_import psql -X -q -v ON_ERROR_STOP=1 -1 \
        -f "$WORK/base_import.sql" "$PG_URL/waybill_bench_baseline"
}
prep_export() { rm -rf "$WORK/dump"; }
prep_base_import() {
    fresh_pg_db waybill_bench_baseline
    pg waybill_bench_baseline -f "$BENCH/target_schema.sql"
}
prep_wb_import() {
    fresh_pg_db waybill_bench_waybill
    pg waybill_bench_waybill -f "$BENCH/target_schema.sql"
}
prep_pgloader() {
    fresh_pg_db waybill_bench_pgloader
    rm -rf "$WORK/pgloader"
    mkdir -p "$WORK/pgloader"
}

# ---------------------------------------------------------------- one scale
run_scale() {
    local scale=$1 t0 t1 t
    echo
    say "=== SCALE $scale ==="

    say "generating the data set in MariaDB database $MY_DB"
    my -e "DROP DATABASE IF EXISTS $MY_DB; CREATE DATABASE $MY_DB CHARACTER SET utf8mb4"
    t0=$(now_ns)
    { echo "SET @scale = $scale;"; cat "$BENCH/generate.sql"; } | my "$MY_DB" >/dev/null
    t1=$(now_ns)
    GEN_SECS=$(calc "($t1 - $t0) / 1e9")
    mapfile -t TABLES < <(my -N -B -e "SELECT table_name FROM information_schema.tables
        WHERE table_schema = '$MY_DB' AND table_type = 'BASE TABLE' ORDER BY table_name")
    SRC_ROWS=0
    for t in "${TABLES[@]}"; do
        SRC_ROWS=$((SRC_ROWS + $(my -N -B -e "SELECT COUNT(*) FROM \`$MY_DB\`.\`$t\`")))
    done
    SRC_MB=$(my -N -B -e "SELECT ROUND(SUM(data_length) / 1e6, 1) FROM information_schema.tables
        WHERE table_schema = '$MY_DB'")
    R[$scale:src_mb]=$SRC_MB
    R[$scale:rows]=$SRC_ROWS
    say "generated $SRC_ROWS rows in ${#TABLES[@]} tables (${TABLES[*]}), InnoDB data $SRC_MB MB, in $(printf %.1f "$GEN_SECS") s"

    RUNS=() PEAK=() FAILED=()
    local i jobs=()
    [ -z "${WAYBILL_BENCH_JOBS:-}" ] || jobs=(--jobs "$WAYBILL_BENCH_JOBS")

    # Exports: 1. baseline, each table streamed through the mariadb client in turn;
    # 2. waybill-export (the dump of its last run feeds the imports). The runs alternate
    # A B B A A B..., so drifting machine load and position effects hit both alike.
    {
        echo 'set -e'
        for t in "${TABLES[@]}"; do
            echo "mariadb --no-defaults --skip-ssl --quick --batch -u'$MY_USER' -h'$MY_HOST' -P'$MY_PORT'" \
                "--default-character-set=utf8mb4 -e 'SELECT * FROM \`$MY_DB\`.\`$t\`' > /dev/null"
        done
    } >"$WORK/base_export.sh"
    say "exports, $REPEAT run(s) each: 1/5 mariadb --quick --batch table by table to /dev/null, 2/5 waybill-export"
    for ((i = 1; i <= REPEAT; i++)); do
        ((i % 2 == 0)) || run_once base_export - env MYSQL_PWD="$MY_PASS" bash "$WORK/base_export.sh"
        run_once wb_export prep_export "$EXPORT_BIN" --source "$MYSQL_URL/$MY_DB$NO_TLS_MY" --out "$WORK/dump" \
            --audit-log "$WORK/audit.jsonl" --quiet "${jobs[@]}"
        ((i % 2 == 1)) || run_once base_export - env MYSQL_PWD="$MY_PASS" bash "$WORK/base_export.sh"
    done
    finish base_export
    if [ "$RC" = 0 ]; then record "$scale" base_export ok ok; else show_err "baseline export" base_export; record "$scale" base_export failed; fi

    finish wb_export
    DUMP=
    if [ "$RC" = 0 ]; then
        DUMP=$(tail -n 1 "$WORK/wb_export.out")
        [ -f "$DUMP/migration_manifest.json" ] || { RC=99; echo "no manifest in '$DUMP'" >>"$WORK/wb_export.err"; }
    fi
    if [ "$RC" = 0 ]; then
        local mrows
        mrows=$(jq '[.tables[].rows] | add' "$DUMP/migration_manifest.json")
        CSV_BYTES=$(find "$DUMP" -name '*.csv' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
        CSV_FILES=$(find "$DUMP" -name '*.csv' | wc -l)
        if [ "$mrows" = "$SRC_ROWS" ]; then record "$scale" wb_export ok ok; else record "$scale" wb_export ok "ROWS $mrows != $SRC_ROWS"; fi
        say "    dump: $CSV_FILES CSV files, $(printf %.1f "$(calc "$CSV_BYTES / 1e6")") MB"
    else
        show_err waybill-export wb_export
        record "$scale" wb_export failed
        CSV_BYTES=0
        CSV_FILES=0
    fi
    R[$scale:csv_bytes]=$CSV_BYTES
    R[$scale:csv_files]=$CSV_FILES

    # Imports, each run into a freshly created database with target_schema.sql:
    # 3. baseline, one psql session and transaction, \copy of every CSV file of the dump;
    # 4. waybill-import of the same dump. The runs alternate, like the exports.
    if [ -n "$DUMP" ]; then
        # One \copy per CSV file, columns and files as the manifest lists them.
        jq -r --arg dir "$DUMP" '.tables[] | . as $t
                | ($t.columns | map("\"" + .name + "\"") | join(", ")) as $cols
                | $t.files[]
                | "\\copy \"\($t.name)\" (\($cols)) FROM '"'"'\($dir)/\(.path)'"'"' WITH (FORMAT csv, HEADER true, NULL '"'"'\\N'"'"')"' \
            "$DUMP/migration_manifest.json" >"$WORK/base_import.sql"
        if [ "$IMPORT_ON" = 1 ]; then
            say "imports, $REPEAT run(s) each: 3/5 psql \\copy of waybill's CSV files, 4/5 waybill-import (and with --jobs 2)"
        else
            say "imports, $REPEAT run(s): 3/5 psql \\copy of waybill's CSV files (4/5 waybill-import not built)"
        fi
        for ((i = 1; i <= REPEAT; i++)); do
            ((i % 2 == 0)) || run_base_import
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet
            # The same import, every value read back and compared before COMMIT.
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import_verify prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet --verify
            # Per-table commits on two connections: not all or nothing, like pgloader.
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import_jobs prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet --jobs 2
            ((i % 2 == 1)) || run_base_import
        done
        finish base_import
        if [ "$RC" = 0 ]; then
            record "$scale" base_import ok "$(check_rows waybill_bench_baseline public)"
        else
            show_err "baseline import" base_import
            record "$scale" base_import failed
        fi
    else
        SECS='' RSS_MB=''; record "$scale" base_import 'no dump'
    fi

    local imp
    for imp in wb_import wb_import_jobs wb_import_verify; do
        if [ "$IMPORT_ON" = 0 ]; then
            SECS='' RSS_MB=''; record "$scale" "$imp" 'not available'
        elif [ -z "$DUMP" ]; then
            SECS='' RSS_MB=''; record "$scale" "$imp" 'no dump'
        else
            finish "$imp"
            if [ "$RC" = 0 ]; then
                record "$scale" "$imp" ok "$(check_rows waybill_bench_waybill public)"
            else
                show_err "${LABEL[$imp]}" "$imp"
                record "$scale" "$imp" failed
            fi
        fi
    done

    # The live source against the target the imports just loaded, value by value.
    if [ "$VERIFY_ON" = 0 ]; then
        SECS='' RSS_MB=''; record "$scale" wb_verify_live 'not available'
    elif [ "${R[$scale:wb_import_jobs:status]}" != ok ]; then
        SECS='' RSS_MB=''; record "$scale" wb_verify_live 'no loaded target'
    else
        say "waybill-verify --source --target, $REPEAT run(s)"
        for ((i = 1; i <= REPEAT; i++)); do
            run_once wb_verify_live - "$VERIFY_BIN" --source "$MYSQL_URL/$MY_DB$NO_TLS_MY" \
                --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" --audit-log "$WORK/audit.jsonl" --quiet
        done
        finish wb_verify_live
        if [ "$RC" = 0 ]; then
            record "$scale" wb_verify_live ok "$(grep -q . "$WORK/wb_verify_live.err" && echo 'see log' || echo 'all equal')"
        else
            show_err "waybill-verify --source --target" wb_verify_live
            record "$scale" wb_verify_live failed
        fi
    fi

    # 5. pgloader, the whole move in one tool (fewer runs: it is the slow one).
    say "5/5 pgloader, $PGLOADER_REPEAT run(s)"
    if [ "$PGLOADER_ON" = 0 ]; then
        SECS='' RSS_MB=''; record "$scale" pgloader "$PGLOADER_WHY"
    else
        sed -e "s|@SOURCE@|$MYSQL_URL/$MY_DB|" -e "s|@TARGET@|$PG_URL/waybill_bench_pgloader$NO_TLS_PG|" \
            "$BENCH/pgloader.load" >"$WORK/pgloader.load"
        # stdin from /dev/null: when SBCL runs out of heap it enters its LDB debugger,
        # which then exits instead of waiting for a terminal.
        for ((i = 1; i <= PGLOADER_REPEAT; i++)); do
            run_once pgloader prep_pgloader \
                timeout --kill-after=10 "${WAYBILL_BENCH_PGLOADER_TIMEOUT:-1800}" \
                pgloader --dynamic-space-size 4096 --root-dir "$WORK/pgloader" \
                --logfile "$WORK/pgloader/pgloader.log" "$WORK/pgloader.load" </dev/null
        done
        REPEAT=$PGLOADER_REPEAT finish pgloader
        if [ "$RC" = 0 ]; then
            record "$scale" pgloader ok "$(check_rows waybill_bench_pgloader "$MY_DB")"
        else
            show_err pgloader pgloader
            if grep -q 'Heap exhausted' "$WORK/pgloader.err" "$WORK/pgloader.out" 2>/dev/null; then
                record "$scale" pgloader 'failed (heap exhausted)'
            elif [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
                record "$scale" pgloader 'failed (timeout)'
            else
                record "$scale" pgloader "failed (exit $RC)"
            fi
        fi
    fi
    settle

    report_scale "$scale"
}

# ---------------------------------------------------------------- reports
report_scale() {
    local s=$1 step secs rss st rows=${R[$1:rows]} bytes=${R[$1:csv_bytes]}
    echo
    echo "SCALE $s: $rows rows, waybill dump $(printf %.1f "$(calc "$bytes / 1e6")") MB of CSV in ${R[$s:csv_files]} files (InnoDB data ${R[$s:src_mb]} MB)"
    echo "MB/s = CSV bytes of the dump / 10^6 / seconds; RSS in MB (10^6 bytes)"
    printf '%-34s %9s %11s %9s %12s  %s\n' step seconds rows/s MB/s 'peak RSS MB' check
    printf '%-34s %9s %11s %9s %12s  %s\n' ---------------------------------- --------- ----------- --------- ------------ -----
    for step in "${STEPS[@]}"; do
        st=${R[$s:$step:status]}
        secs=${R[$s:$step:secs]}
        rss=${R[$s:$step:rss]}
        if [ "$st" = ok ]; then
            printf '%-34s %9.2f %11.0f %9.1f %12.1f  %s\n' "${LABEL[$step]}" "$secs" \
                "$(calc "$rows / $secs")" "$(calc "$bytes / 1e6 / $secs")" "$rss" "${R[$s:$step:check]}"
        else
            printf '%-34s %s\n' "${LABEL[$step]}" "$st"
        fi
    done
    echo
    ratio "waybill export / mariadb baseline" "$s" wb_export base_export '<= 1.00'
    ratio 'waybill import / psql \copy baseline' "$s" wb_import base_import '<= 1.10'
    ratio '(waybill export+import) / pgloader' "$s" 'wb_export+wb_import' pgloader '<= 0.50'
    ratio '(export+import --jobs 2) / pgloader' "$s" 'wb_export+wb_import_jobs' pgloader '<= 0.50; per-table commits like pgloader'
    ratio 'import --verify / import' "$s" wb_import_verify wb_import '<= 1.50'
    ratio 'verify --source --target / export' "$s" wb_verify_live wb_export '<= 1.00'
    local b
    for b in wb_export wb_import wb_import_verify wb_verify_live; do
        if [ "${R[$s:$b:status]}" = ok ]; then
            printf '%-40s = %.1f MB   (target < 64 MB)\n' "${LABEL[$b]} peak RSS" "${R[$s:$b:rss]}"
        fi
    done
}

# ratio LABEL SCALE NUM(+NUM) DEN TARGET
ratio() {
    local label=$1 s=$2 num=0 den part
    for part in ${3//+/ }; do
        [ "${R[$s:$part:status]}" = ok ] || { printf '%-40s = n/a (%s: %s)\n' "$label" "${LABEL[$part]}" "${R[$s:$part:status]}"; return; }
        num=$(calc "$num + ${R[$s:$part:secs]}")
    done
    [ "${R[$s:$4:status]}" = ok ] || { printf '%-40s = n/a (%s: %s)\n' "$label" "${LABEL[$4]}" "${R[$s:$4:status]}"; return; }
    den=${R[$s:$4:secs]}
    printf '%-40s = %.2f   (target %s)\n' "$label" "$(calc "$num / $den")" "$5"
}

report_scales() {
    local first=${SCALES[0]} last=${SCALES[-1]} s step cell
    echo
    echo "ACROSS SCALES: microseconds per row (should stay flat) and peak RSS MB (waybill's should not grow)"
    printf '%-34s' step
    for s in "${SCALES[@]}"; do printf ' %18s' "scale $s us/row"; done
    for s in "${SCALES[@]}"; do printf ' %13s' "scale $s RSS"; done
    echo
    printf '%-34s' rows
    for s in "${SCALES[@]}"; do printf ' %18s' "${R[$s:rows]}"; done
    echo
    for step in "${STEPS[@]}"; do
        printf '%-34s' "${LABEL[$step]}"
        for s in "${SCALES[@]}"; do
            if [ "${R[$s:$step:status]}" = ok ]; then
                cell=$(printf '%.2f' "$(calc "${R[$s:$step:secs]} * 1e6 / ${R[$s:rows]}")")
            else cell=${R[$s:$step:status]}; fi
            printf ' %18s' "$cell"
        done
        for s in "${SCALES[@]}"; do
            if [ "${R[$s:$step:status]}" = ok ]; then cell=$(printf '%.1f' "${R[$s:$step:rss]}"); else cell=-; fi
            printf ' %13s' "$cell"
        done
        echo
    done
    if [ "$first" != "$last" ]; then
        echo
        echo "scale $last / scale $first: rows x$(printf '%.2f' "$(calc "${R[$last:rows]} / ${R[$first:rows]}")")"
        for step in "${STEPS[@]}"; do
            if [ "${R[$first:$step:status]}" = ok ] && [ "${R[$last:$step:status]}" = ok ]; then
                printf '  %-34s time x%-6.2f peak RSS x%.2f\n' "${LABEL[$step]}" \
                    "$(calc "${R[$last:$step:secs]} / ${R[$first:$step:secs]}")" \
                    "$(calc "${R[$last:$step:rss]} / ${R[$first:$step:rss]}")"
            fi
        done
    fi
}

# ---------------------------------------------------------------- main
START=$(now_ns)
say "scales: ${SCALES[*]}; work directory $WORK"
VERSIONS="MariaDB $(my -N -B -e 'SELECT VERSION()'), PostgreSQL $(pg_value postgres 'SHOW server_version')"
VERSIONS+=", $("$EXPORT_BIN" --version 2>/dev/null || echo waybill-export)"
[ "$PGLOADER_ON" = 1 ] && VERSIONS+=", $(pgloader --version 2>/dev/null | head -n 1) (Debian $(dpkg-query -W -f '${Version}' pgloader 2>/dev/null || echo '?'))"
say "versions: $VERSIONS"
for scale in "${SCALES[@]}"; do
    run_scale "$scale"
done
report_scales
echo
echo "total benchmark time: $(printf '%.0f' "$(calc "($(now_ns) - $START) / 1e9")") s ($(nproc) CPUs)"
