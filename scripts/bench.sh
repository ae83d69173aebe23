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
#                     (independent tables on --jobs connections, default the number of
#                     CPUs, committed together by two-phase commit; binary COPY converted
#                     by the client); also timed
#                     with --copy-format text (PostgreSQL parses the CSV, as before binary
#                     COPY), and with --commit per-table --jobs 2 (two tables at a time,
#                     each committing on its own: not all or nothing, like pgloader)
#   one table         waybill-import --tables authorization_policy of the same dump: a
#                     table of several files (at scale 4) goes through a shadow table, its
#                     files on --jobs connections, swapped in at the commit; against the
#                     same with --jobs 1 (in place, on one backend). At scale 1 its dump
#                     is one file, so both load it in place
#   compressed        waybill-export --compress zstd (alternating with the plain export),
#                     and waybill-import of that compressed dump
#   pgloader          MySQL -> PostgreSQL in one go (schema, data, indexes), with the
#                     settings in scripts/bench/pgloader.load; skipped if not installed
#   waybill-import --verify   the same import, every table read back and compared with
#                     the dump before COMMIT (timed alongside the plain import)
#   waybill-verify --source --target   the live source against the loaded target, value
#                     by value (timed after the imports; compared with waybill-export of
#                     the same tables)
#
# Then, once, on the last scale's data: catch-up (waybill-export --since). A full export
# and import (not timed), then a stream of writes runs against the data set while a
# catch-up round (export --since, import of the delta) runs; the stream stops, 10,000 more
# rows change (WAYBILL_BENCH_CATCHUP_ROWS: updates, inserts and deletes of ledger_entry,
# updates of awkward_text) and the writes stop. Timed from "stop writes" to "target
# verified equal": the last delta's export, its import, and the check (row counts of every
# table on both sides, and a checksum of every column of the two tables the writes touch,
# computed by SQL on both sides; waybill-verify does not exist yet).
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
#   CPU s      for the imports: CPU seconds (user + system) of the client process, and of
#              the PostgreSQL server during the step (every postgres process's utime +
#              stime from /proc, plus what the postmaster collected from backends that
#              exited; medians). Other sessions on the same server count too.
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
#   WAYBILL_BENCH_CATCHUP=0       skip the catch-up measurement; =only runs just it (on
#                                 the first scale given, default 1)
#   WAYBILL_BENCH_CATCHUP_ROWS=N  rows changed after the stream stops (default 10000,
#                                 a multiple of 500)
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/scripts/bench
MY_DB=waybill_bench
PG_DBS=(waybill_bench_baseline waybill_bench_waybill waybill_bench_pgloader waybill_bench_catchup)
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
PG_PID=$(head -n 1 "$(psql -X -A -t "$PG_URL/postgres" -c 'SHOW data_directory' 2>/dev/null)/postmaster.pid" 2>/dev/null || true)
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

# CPU seconds the PostgreSQL server has used so far: utime + stime of every process of
# the postmaster's tree, plus cutime + cstime of the postmaster (its exited backends).
# Empty when the server's processes cannot be read (another host, no /proc). PG_PID
# (the postmaster) is read from postmaster.pid once the server is up.
pg_server_cpu() {
    [ -n "$PG_PID" ] && [ -r "/proc/$PG_PID/stat" ] || return 0
    local hz p ticks=0 f
    hz=$(getconf CLK_TCK)
    for p in $PG_PID $(pgrep -P "$PG_PID" 2>/dev/null); do
        # Fields after the ")" of the command name: utime is the 12th, stime 13th,
        # cutime 14th, cstime 15th.
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086
        set -- $f
        ticks=$((ticks + ${12} + ${13}))
        [ "$p" != "$PG_PID" ] || ticks=$((ticks + ${14} + ${15}))
    done
    calc "$ticks / $hz"
}

# measure STEP CMD...: runs CMD with stdout/stderr to $WORK/STEP.{out,err}; sets
# SECS, RSS_MB, CPU_CLIENT (user + system seconds of CMD), CPU_SERVER (of PostgreSQL,
# empty if unknown), RC.
measure() {
    local step=$1; shift
    local t0 t1 c0 c1
    c0=$(pg_server_cpu)
    t0=$(now_ns)
    RC=0
    /usr/bin/time -f '%M %U %S' -o "$WORK/$step.time" "$@" >"$WORK/$step.out" 2>"$WORK/$step.err" || RC=$?
    t1=$(now_ns)
    c1=$(pg_server_cpu)
    SECS=$(calc "($t1 - $t0) / 1e9")
    local m u sy
    read -r m u sy < <(tail -n 1 "$WORK/$step.time" 2>/dev/null || echo '0 0 0')
    RSS_MB=$(calc "${m:-0} * 1024 / 1e6")
    CPU_CLIENT=$(calc "${u:-0} + ${sy:-0}")
    CPU_SERVER=
    [ -z "$c0" ] || [ -z "$c1" ] || CPU_SERVER=$(calc "$c1 - $c0")
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
    R[$1:$2:ccpu]=${CPU_CLIENT:-}
    R[$1:$2:scpu]=${CPU_SERVER:-}
    R[$1:$2:status]=$3
    R[$1:$2:check]=${4:-}
}

show_err() { say "$1 failed (exit $RC); last lines of its output:"; tail -n 15 "$WORK/$2.err" "$WORK/$2.out" >&2 || true; }

# Rows of one table in a PostgreSQL database/schema, against the source's.
check_table_rows() { # db schema table
    local n m
    n=$(pg_value "$1" "SELECT count(*) FROM \"$2\".\"$3\"" 2>/dev/null) || { echo "missing $3"; return; }
    m=$(my -N -B -e "SELECT COUNT(*) FROM \`$MY_DB\`.\`$3\`")
    if [ "$n" = "$m" ]; then echo "ok"; else echo "ROWS $n != $m"; fi
}

# Rows in TABLES in a PostgreSQL database/schema, against the source count.
check_rows() { # db schema
    local total=0 t n
    for t in "${TABLES[@]}"; do
        n=$(pg_value "$1" "SELECT count(*) FROM \"$2\".\"$t\"" 2>/dev/null) || { echo "missing $t"; return; }
        total=$((total + n))
    done
    if [ "$total" = "$SRC_ROWS" ]; then echo "ok"; else echo "ROWS $total != $SRC_ROWS"; fi
}

STEPS=(base_export wb_export wb_export_zstd base_import wb_import wb_import_text wb_import_zstd wb_import_jobs
    wb_import_verify wb_import_one wb_import_one_jobs1 wb_verify_live pgloader)
ONE_TABLE=authorization_policy
declare -A LABEL=(
    [base_export]='baseline export (mariadb --quick)'
    [wb_export]='waybill-export'
    [wb_export_zstd]='waybill-export --compress zstd'
    [base_import]='baseline import (psql \copy)'
    [wb_import]='waybill-import'
    [wb_import_text]='waybill-import --copy-format text'
    [wb_import_zstd]='waybill-import (zstd dump)'
    [wb_import_jobs]='import --commit per-table --jobs 2'
    [wb_import_verify]='waybill-import --verify'
    [wb_import_one]="one table, default --jobs"
    [wb_import_one_jobs1]="one table, --jobs 1"
    [wb_verify_live]='waybill-verify --source --target'
    [pgloader]='pgloader (MySQL -> PostgreSQL)'
)

# run_once STEP PREP CMD...: PREP (untimed; `-` for none), settle, then CMD through
# measure; adds the time to RUNS[STEP] and keeps the largest RSS in PEAK[STEP]. After a
# failure the step is not run again (FAILED[STEP] holds the exit status).
declare -A RUNS PEAK FAILED CCPU SCPU
run_once() {
    local step=$1 prep=$2
    shift 2
    [ -z "${FAILED[$step]:-}" ] || return 0
    [ "$prep" = - ] || "$prep"
    settle
    measure "$step" "$@"
    if [ "$RC" != 0 ]; then FAILED[$step]=$RC; return 0; fi
    RUNS[$step]="${RUNS[$step]:-} $SECS"
    CCPU[$step]="${CCPU[$step]:-} $CPU_CLIENT"
    [ -z "$CPU_SERVER" ] || SCPU[$step]="${SCPU[$step]:-} $CPU_SERVER"
    PEAK[$step]=$(calc "($RSS_MB > ${PEAK[$step]:-0}) ? $RSS_MB : ${PEAK[$step]:-0}")
}

median() {
    # shellcheck disable=SC2086
    printf '%s\n' $1 | sort -g |
        awk '{ a[NR] = $1 } END { if (NR) printf "%.6f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# finish STEP: SECS = median of the runs, RSS_MB = largest peak, CPU_CLIENT and
# CPU_SERVER = medians, RC = 0; or RC = the failure's exit status.
finish() {
    local step=$1
    RC=${FAILED[$step]:-0}
    [ "$RC" = 0 ] || return 0
    SECS=$(median "${RUNS[$step]}")
    CPU_CLIENT=$(median "${CCPU[$step]:-}")
    CPU_SERVER=$(median "${SCPU[$step]:-}")
    RSS_MB=${PEAK[$step]}
    # shellcheck disable=SC2086
    [ "$REPEAT" = 1 ] || say "    ${LABEL[$step]}: runs $(printf '%.2f ' ${RUNS[$step]})s -> median $(printf '%.2f' "$SECS") s"
}

run_base_import() {
    run_once base_import prep_base_import psql -X -q -v ON_ERROR_STOP=1 -1 \
        -f "$WORK/base_import.sql" "$PG_URL/waybill_bench_baseline"
}
prep_export() { rm -rf "$WORK/dump"; }
prep_export_zstd() { rm -rf "$WORK/dumpz"; }
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
generate() {
    local scale=$1 t0 t1 t
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
}

run_scale() {
    local scale=$1
    echo
    say "=== SCALE $scale ==="
    generate "$scale"

    RUNS=() PEAK=() FAILED=() CCPU=() SCPU=()
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
    say "exports, $REPEAT run(s) each: 1/5 mariadb --quick --batch table by table to /dev/null, 2/5 waybill-export (and with --compress zstd)"
    for ((i = 1; i <= REPEAT; i++)); do
        ((i % 2 == 0)) || run_once base_export - env MYSQL_PWD="$MY_PASS" bash "$WORK/base_export.sh"
        run_once wb_export prep_export "$EXPORT_BIN" --source "$MYSQL_URL/$MY_DB$NO_TLS_MY" --out "$WORK/dump" \
            --audit-log "$WORK/audit.jsonl" --quiet "${jobs[@]}"
        run_once wb_export_zstd prep_export_zstd "$EXPORT_BIN" --source "$MYSQL_URL/$MY_DB$NO_TLS_MY" --out "$WORK/dumpz" \
            --audit-log "$WORK/audit.jsonl" --quiet --compress zstd "${jobs[@]}"
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

    finish wb_export_zstd
    DUMPZ=
    ZST_BYTES=0
    if [ "$RC" = 0 ]; then
        DUMPZ=$(tail -n 1 "$WORK/wb_export_zstd.out")
        [ -f "$DUMPZ/migration_manifest.json" ] || { RC=99; echo "no manifest in '$DUMPZ'" >>"$WORK/wb_export_zstd.err"; }
    fi
    if [ "$RC" = 0 ]; then
        local zrows
        zrows=$(jq '[.tables[].rows] | add' "$DUMPZ/migration_manifest.json")
        ZST_BYTES=$(find "$DUMPZ" -name '*.csv.zst' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
        if [ "$zrows" = "$SRC_ROWS" ]; then record "$scale" wb_export_zstd ok ok; else record "$scale" wb_export_zstd ok "ROWS $zrows != $SRC_ROWS"; fi
        say "    compressed dump: $(printf %.1f "$(calc "$ZST_BYTES / 1e6")") MB of .csv.zst"
    else
        show_err "waybill-export --compress zstd" wb_export_zstd
        record "$scale" wb_export_zstd failed
    fi
    R[$scale:zst_bytes]=$ZST_BYTES

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
            say "imports, $REPEAT run(s) each: 3/5 psql \\copy of waybill's CSV files, 4/5 waybill-import (and with --copy-format text, --verify, --commit per-table --jobs 2, of the zstd dump)"
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
            # Text COPY: PostgreSQL parses the CSV (the import before binary COPY).
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import_text prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet --copy-format text
            # The compressed dump.
            [ "$IMPORT_ON" = 0 ] || [ -z "$DUMPZ" ] ||
                run_once wb_import_zstd prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMPZ" --audit-log "$WORK/audit.jsonl" --quiet
            # One table of several files: a shadow table on --jobs connections, or in
            # place on one backend (--jobs 1).
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import_one prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet --tables "$ONE_TABLE"
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import_one_jobs1 prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet --tables "$ONE_TABLE" --jobs 1
            # Per-table commits on two connections: not all or nothing, like pgloader.
            [ "$IMPORT_ON" = 0 ] ||
                run_once wb_import_jobs prep_wb_import "$IMPORT_BIN" --target "$PG_URL/waybill_bench_waybill$NO_TLS_PG" \
                    "$DUMP" --audit-log "$WORK/audit.jsonl" --quiet --commit per-table --jobs 2
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
    for imp in wb_import wb_import_text wb_import_zstd wb_import_one wb_import_one_jobs1 wb_import_jobs wb_import_verify; do
        if [ "$IMPORT_ON" = 0 ]; then
            SECS='' RSS_MB=''; record "$scale" "$imp" 'not available'
        elif [ -z "$DUMP" ] || { [ "$imp" = wb_import_zstd ] && [ -z "$DUMPZ" ]; }; then
            SECS='' RSS_MB=''; record "$scale" "$imp" 'no dump'
        else
            finish "$imp"
            if [ "$RC" = 0 ] && [ "${imp#wb_import_one}" != "$imp" ]; then
                record "$scale" "$imp" ok "$(check_table_rows waybill_bench_waybill public "$ONE_TABLE")"
            elif [ "$RC" = 0 ]; then
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

# ---------------------------------------------------------------- catch-up
CATCHUP=${WAYBILL_BENCH_CATCHUP:-1}
CATCHUP_ROWS=${WAYBILL_BENCH_CATCHUP_ROWS:-10000}
case $CATCHUP_ROWS in *[!0-9]* | '' | 0) die "WAYBILL_BENCH_CATCHUP_ROWS must be a positive multiple of 500" ;; esac
[ $((CATCHUP_ROWS % 500)) = 0 ] || die "WAYBILL_BENCH_CATCHUP_ROWS must be a multiple of 500"

secs_since() { calc "($(now_ns) - $1) / 1e9"; }

# The same rows on both sides: counts of every table, and a checksum of every column of
# the tables the writes change. Prints "equal" or what differs.
verify_equal() {
    local t a b diff=
    for t in "${TABLES[@]}"; do
        a=$(my -N -B -e "SELECT COUNT(*) FROM \`$MY_DB\`.\`$t\`")
        b=$(pg_value waybill_bench_catchup "SELECT count(*) FROM \"$t\"")
        [ "$a" = "$b" ] || diff+=" $t rows $a/$b"
    done
    a=$(my -N -B "$MY_DB" -e "SET SESSION group_concat_max_len = 1073741824;
        SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, account_id, entry_date, IFNULL(value_date, '-'), amount,
            balance, IFNULL(fx_rate, '-'), currency, is_reversal, DATE_FORMAT(posted_at, '%Y-%m-%d %H:%i:%s.%f'),
            memo) ORDER BY id SEPARATOR '\n')) FROM ledger_entry")
    b=$(pg_value waybill_bench_catchup "SELECT md5(string_agg(concat_ws('|', id, account_id, entry_date,
            coalesce(value_date::text, '-'), amount, balance, coalesce(fx_rate::text, '-'), currency,
            is_reversal::int, to_char(posted_at, 'YYYY-MM-DD HH24:MI:SS.US'), memo), E'\n' ORDER BY id))
        FROM ledger_entry")
    [ "$a" = "$b" ] || diff+=" ledger_entry checksum"
    a=$(my -N -B "$MY_DB" -e "SET SESSION group_concat_max_len = 1073741824;
        SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, kind, label, MD5(body), IFNULL(note, '-'),
            IFNULL(UNIX_TIMESTAMP(created_at), '-')) ORDER BY id SEPARATOR '\n')) FROM awkward_text")
    b=$(pg_value waybill_bench_catchup "SELECT md5(string_agg(concat_ws('|', id, kind, label, md5(body),
            coalesce(note, '-'), coalesce(extract(epoch FROM created_at)::bigint::text, '-')), E'\n' ORDER BY id))
        FROM awkward_text")
    [ "$a" = "$b" ] || diff+=" awkward_text checksum"
    if [ -z "$diff" ]; then echo equal; else echo "DIFFERENT:$diff"; fi
}

# A stream of small write transactions (20 rows each, ten a second) until $1 exists.
write_stream() {
    local stop=$1 n=0 lo
    while [ ! -e "$stop" ]; do
        lo=$((L0 + 20000 + (n * 20) % 10000))
        my "$MY_DB" -e "UPDATE ledger_entry SET memo = CONCAT('stream ', $n) WHERE id BETWEEN $lo AND $((lo + 19))"
        n=$((n + 1))
        sleep 0.1
    done
}

# CATCHUP_ROWS row changes in transactions of 500 rows: 40% updates, 30% inserts and 20%
# deletes of ledger_entry, 10% updates of awkward_text; none touch the same row twice.
write_batch() {
    local parts=$((CATCHUP_ROWS / 500)) i lo stmts=()
    local up=$((parts * 4 / 10)) ins=$((parts * 3 / 10)) del=$((parts * 2 / 10))
    local aw=$((parts - up - ins - del))
    for ((i = 0; i < up; i++)); do
        lo=$((L0 + i * 500))
        stmts+=("UPDATE ledger_entry SET amount = amount + 0.0001, memo = 'updated' WHERE id BETWEEN $lo AND $((lo + 499))")
    done
    for ((i = 0; i < ins; i++)); do
        lo=$((L0 + 40000 + i * 500))
        stmts+=("INSERT INTO ledger_entry (account_id, entry_date, value_date, amount, balance, fx_rate, currency,
            is_reversal, posted_at, memo) SELECT account_id, entry_date, value_date, amount, balance, fx_rate,
            currency, is_reversal, NOW(6), 'inserted' FROM ledger_entry WHERE id BETWEEN $lo AND $((lo + 499))")
    done
    for ((i = 0; i < del; i++)); do
        lo=$((L0 + 60000 + i * 500))
        stmts+=("DELETE FROM ledger_entry WHERE id BETWEEN $lo AND $((lo + 499))")
    done
    for ((i = 0; i < aw; i++)); do
        lo=$((A0 + i * 500))
        stmts+=("UPDATE awkward_text SET note = CONCAT('changed ', id), body = CONCAT(body, ' ✓') WHERE id BETWEEN $lo AND $((lo + 499))")
    done
    local s
    for s in "${stmts[@]}"; do
        my "$MY_DB" -e "$s"
        sleep 0.05
    done
}

run_catchup() {
    echo
    say "=== CATCH-UP ==="
    CU_STATUS=ok
    L0=$(my -N -B -e "SELECT MIN(id) FROM \`$MY_DB\`.ledger_entry")
    A0=$(my -N -B -e "SELECT MIN(id) FROM \`$MY_DB\`.awkward_text")
    local ledger_rows
    ledger_rows=$(my -N -B -e "SELECT COUNT(*) FROM \`$MY_DB\`.ledger_entry")
    if [ "$ledger_rows" -lt $((70000 + CATCHUP_ROWS)) ]; then
        CU_STATUS="skipped: ledger_entry has $ledger_rows rows, too few for $CATCHUP_ROWS changes"
        return
    fi
    local src="$MYSQL_URL/$MY_DB$NO_TLS_MY" tgt="$PG_URL/waybill_bench_catchup$NO_TLS_PG" t0 base round last
    say "full export and import of the data set (not timed)"
    rm -rf "$WORK/cu"
    "$EXPORT_BIN" --source "$src" --out "$WORK/cu" --audit-log "$WORK/audit.jsonl" --quiet >"$WORK/cu_base.out" 2>"$WORK/cu_base.err" ||
        { RC=$?; show_err "catch-up base export" cu_base; CU_STATUS=failed; return; }
    base=$(tail -n 1 "$WORK/cu_base.out")
    fresh_pg_db waybill_bench_catchup
    pg waybill_bench_catchup -f "$BENCH/target_schema.sql"
    "$IMPORT_BIN" --target "$tgt" "$base" --audit-log "$WORK/audit.jsonl" --quiet >"$WORK/cu_base_import.out" 2>"$WORK/cu_base_import.err" ||
        { RC=$?; show_err "catch-up base import" cu_base_import; CU_STATUS=failed; return; }

    say "a stream of writes starts; catch-up round 1 (export --since, import) runs while it writes"
    rm -f "$WORK/cu_stop"
    write_stream "$WORK/cu_stop" &
    local stream=$!
    sleep 1
    t0=$(now_ns)
    measure cu_round1 "$EXPORT_BIN" --source "$src" --out "$WORK/cu" --since "$base" --audit-log "$WORK/audit.jsonl" --quiet
    [ "$RC" = 0 ] || { show_err "catch-up round 1" cu_round1; CU_STATUS=failed; touch "$WORK/cu_stop"; wait "$stream"; return; }
    round=$(tail -n 1 "$WORK/cu_round1.out")
    measure cu_round1_import "$IMPORT_BIN" --target "$tgt" "$round" --audit-log "$WORK/audit.jsonl" --quiet
    [ "$RC" = 0 ] || { show_err "catch-up round 1 import" cu_round1_import; CU_STATUS=failed; touch "$WORK/cu_stop"; wait "$stream"; return; }
    CU_ROUND1_SECS=$(secs_since "$t0")
    CU_ROUND1_ROWS=$(jq '[.tables[] | (.upserts // 0) + (.deletes // 0)] | add' "$round/migration_manifest.json")
    touch "$WORK/cu_stop"
    wait "$stream"
    say "the stream stops; $CATCHUP_ROWS more rows change, then the writes stop"
    write_batch

    # Writes stopped: from here to a verified target is the cut-over window.
    t0=$(now_ns)
    measure cu_last "$EXPORT_BIN" --source "$src" --out "$WORK/cu" --since "$round" --audit-log "$WORK/audit.jsonl" --quiet
    [ "$RC" = 0 ] || { show_err "catch-up last export" cu_last; CU_STATUS=failed; return; }
    CU_EXPORT_SECS=$SECS CU_EXPORT_RSS=$RSS_MB
    last=$(tail -n 1 "$WORK/cu_last.out")
    measure cu_last_import "$IMPORT_BIN" --target "$tgt" "$last" --audit-log "$WORK/audit.jsonl" --quiet
    [ "$RC" = 0 ] || { show_err "catch-up last import" cu_last_import; CU_STATUS=failed; return; }
    CU_IMPORT_SECS=$SECS CU_IMPORT_RSS=$RSS_MB
    local tv
    tv=$(now_ns)
    CU_VERIFY=$(verify_equal)
    CU_VERIFY_SECS=$(secs_since "$tv")
    CU_TOTAL_SECS=$(secs_since "$t0")
    CU_UPSERTS=$(jq '[.tables[].upserts // 0] | add' "$last/migration_manifest.json")
    CU_DELETES=$(jq '[.tables[].deletes // 0] | add' "$last/migration_manifest.json")
    CU_CHANGES=$(jq '.delta.row_changes' "$last/migration_manifest.json")
    [ "$CU_VERIFY" = equal ] || CU_STATUS="target not equal ($CU_VERIFY)"
}

report_catchup() {
    echo
    echo "CATCH-UP on the last data set: a stream of writes during round 1, then $CATCHUP_ROWS more changed rows"
    if [ "$CU_STATUS" != ok ] && [ -z "${CU_TOTAL_SECS:-}" ]; then
        echo "catch-up: $CU_STATUS"
        return
    fi
    printf 'round 1 under the write stream (export --since + import): %.2f s, %s changed rows\n' "$CU_ROUND1_SECS" "$CU_ROUND1_ROWS"
    printf 'last delta: %s upserts + %s deletes (%s row changes read from the binlog)\n' "$CU_UPSERTS" "$CU_DELETES" "$CU_CHANGES"
    printf '  waybill-export --since   %6.2f s   peak RSS %.1f MB\n' "$CU_EXPORT_SECS" "$CU_EXPORT_RSS"
    printf '  waybill-import (delta)   %6.2f s   peak RSS %.1f MB\n' "$CU_IMPORT_SECS" "$CU_IMPORT_RSS"
    printf '  verify (counts + checksums, SQL on both sides) %6.2f s: %s\n' "$CU_VERIFY_SECS" "$CU_VERIFY"
    printf '%-40s = %.2f s   (target < 10 s for %s changed rows)%s\n' 'stop writes -> target verified equal' "$CU_TOTAL_SECS" "$CATCHUP_ROWS" \
        "$([ "$CU_STATUS" = ok ] || echo "  [$CU_STATUS]")"
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
        if [ "$st" = ok ] && [ "${step#wb_import_one}" != "$step" ]; then
            # One table: the data set's rows and bytes do not apply.
            printf '%-34s %9.2f %11s %9s %12.1f  %s\n' "${LABEL[$step]}" "$secs" - - "$rss" "${R[$s:$step:check]}"
        elif [ "$st" = ok ]; then
            printf '%-34s %9.2f %11.0f %9.1f %12.1f  %s\n' "${LABEL[$step]}" "$secs" \
                "$(calc "$rows / $secs")" "$(calc "$bytes / 1e6 / $secs")" "$rss" "${R[$s:$step:check]}"
        else
            printf '%-34s %s\n' "${LABEL[$step]}" "$st"
        fi
    done
    echo
    ratio "waybill export / mariadb baseline" "$s" wb_export base_export '<= 1.00'
    ratio 'waybill import / psql \copy baseline' "$s" wb_import base_import '<= 0.50; all or nothing'
    ratio 'import text COPY / psql \copy' "$s" wb_import_text base_import '(before binary COPY)'
    ratio 'import binary / text COPY' "$s" wb_import wb_import_text '< 1'
    ratio '(waybill export+import) / pgloader' "$s" 'wb_export+wb_import' pgloader '<= 0.35'
    ratio '(export+import per-table) / pgloader' "$s" 'wb_export+wb_import_jobs' pgloader '<= 0.35; per-table commits like pgloader'
    if [ "${R[$s:wb_export_zstd:status]}" = ok ] && [ "${R[$s:csv_bytes]}" -gt 0 ]; then
        printf '%-40s = %.2f   (target <= 0.40; %.1f MB against %.1f MB)\n' 'zstd dump size / plain' \
            "$(calc "${R[$s:zst_bytes]} / ${R[$s:csv_bytes]}")" "$(calc "${R[$s:zst_bytes]} / 1e6")" "$(calc "${R[$s:csv_bytes]} / 1e6")"
    fi
    ratio '(export+import) zstd / plain' "$s" 'wb_export_zstd+wb_import_zstd' 'wb_export+wb_import' '<= 1.15'
    ratio 'import --verify / import' "$s" wb_import_verify wb_import '<= 1.50'
    ratio 'one table: default --jobs / --jobs 1' "$s" wb_import_one wb_import_one_jobs1 '< 1 with several files (shadow table)'
    ratio 'verify --source --target / export' "$s" wb_verify_live wb_export '<= 1.00'
    local b
    for b in wb_export wb_export_zstd wb_import wb_import_zstd wb_import_verify wb_verify_live; do
        if [ "${R[$s:$b:status]}" = ok ]; then
            printf '%-40s = %.1f MB   (target <= 64 MB)\n' "${LABEL[$b]} peak RSS" "${R[$s:$b:rss]}"
        fi
    done
    echo "CPU seconds during each import (client process; PostgreSQL server), medians, against wall-clock seconds:"
    for b in base_import wb_import wb_import_text wb_import_zstd wb_import_jobs; do
        if [ "${R[$s:$b:status]}" = ok ]; then
            printf '  %-38s client %6.2f s   server %6s s   wall %6.2f s\n' "${LABEL[$b]}" "${R[$s:$b:ccpu]:-0}" \
                "$(if [ -n "${R[$s:$b:scpu]}" ]; then printf '%.2f' "${R[$s:$b:scpu]}"; else echo '?'; fi)" "${R[$s:$b:secs]}"
        fi
    done
}

# ratio LABEL SCALE NUM(+NUM) DEN(+DEN) TARGET
ratio() {
    local label=$1 s=$2 num=0 den=0 part
    for part in ${3//+/ }; do
        [ "${R[$s:$part:status]:-}" = ok ] || { printf '%-40s = n/a (%s: %s)\n' "$label" "${LABEL[$part]}" "${R[$s:$part:status]:-}"; return; }
        num=$(calc "$num + ${R[$s:$part:secs]}")
    done
    for part in ${4//+/ }; do
        [ "${R[$s:$part:status]:-}" = ok ] || { printf '%-40s = n/a (%s: %s)\n' "$label" "${LABEL[$part]}" "${R[$s:$part:status]:-}"; return; }
        den=$(calc "$den + ${R[$s:$part:secs]}")
    done
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
PREPARED=$(pg_value postgres 'SHOW max_prepared_transactions')
if [ "$PREPARED" = 0 ]; then
    say "warning: max_prepared_transactions is 0 on the target: waybill-import loads all or nothing on one connection (two-phase commit needs it; scripts/dev-db.sh start sets 64)"
else
    say "max_prepared_transactions = $PREPARED: waybill-import loads all or nothing on --jobs connections (two-phase commit)"
fi
if [ "$CATCHUP" = only ]; then
    generate "${SCALES[0]}"
    run_catchup
    report_catchup
else
    for scale in "${SCALES[@]}"; do
        run_scale "$scale"
    done
    report_scales
    if [ "$CATCHUP" != 0 ]; then
        run_catchup
        report_catchup
    fi
fi
echo
echo "total benchmark time: $(printf '%.0f' "$(calc "($(now_ns) - $START) / 1e9")") s ($(nproc) CPUs)"
