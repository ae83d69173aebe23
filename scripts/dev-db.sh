#!/usr/bin/env bash
# Throwaway MariaDB and PostgreSQL servers on loopback, for the demo, the tests and the
# benchmark. No Docker: the servers come from Debian packages (installed when missing)
# and run from a scratch data directory on non-default ports, so they never touch a
# system database.
#
#   scripts/dev-db.sh start    install if needed, start both (idempotent), print env
#   scripts/dev-db.sh env      print the env lines only
#   scripts/dev-db.sh status   say what is running
#   scripts/dev-db.sh stop     stop both servers (data directory kept)
#   scripts/dev-db.sh destroy  stop both and delete the data directory
#
# `eval "$(scripts/dev-db.sh start)"` puts the connection URLs in your shell.
# Settings: WAYBILL_DEV_DIR (default ${TMPDIR:-/tmp}/waybill-dev),
# WAYBILL_DEV_MYSQL_PORT (default 33306), WAYBILL_DEV_PG_PORT (default 55432).
# Everything but the `export` lines goes to stderr.
set -euo pipefail

BASE=${WAYBILL_DEV_DIR:-${TMPDIR:-/tmp}/waybill-dev}
MYSQL_PORT=${WAYBILL_DEV_MYSQL_PORT:-33306}
PG_PORT=${WAYBILL_DEV_PG_PORT:-55432}
DEV_USER=waybill
DEV_PASS=waybill
MY_DIR=$BASE/mariadb
PG_DIR=$BASE/postgres
TLS_DIR=$BASE/tls
# An account on each server that may only connect over TLS, for the TLS tests.
TLS_USER=waybill_tls
# Row-format binary logs of the tests and the benchmark grow by gigabytes an hour: they
# are cut into 256 MB files, and files older than 15 minutes are purged. Catch-up needs the
# logs since its base export, which in the tests and the benchmark is minutes old.
BINLOG_EXPIRE=900
BINLOG_SIZE=268435456

say() { echo "dev-db: $*" >&2; }
die() { say "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"
    fi
}

pg_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

install_missing() {
    local pkgs=()
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
    command -v mariadb >/dev/null 2>&1 || pkgs+=(mariadb-client)
    pg_bindir >/dev/null || pkgs+=(postgresql)
    command -v psql >/dev/null 2>&1 || pkgs+=(postgresql-client)
    command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
    if [ ${#pkgs[@]} -gt 0 ]; then
        say "installing ${pkgs[*]} from Debian packages"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2
    fi
}

# Servers refuse to run as root (PostgreSQL) or need an explicit user (MariaDB); when we
# are root we run them as the system accounts the packages create.
run_as() {
    local user=$1; shift
    if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
server_user() { if [ "$(id -u)" = 0 ]; then echo "$1"; else id -un; fi; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mysql_root() { mariadb --no-defaults -uroot -h127.0.0.1 -P"$MYSQL_PORT" "$@"; }

# A throwaway CA and a server certificate for localhost and 127.0.0.1, plus a second,
# unrelated CA (for tests that must fail verification). Never use these elsewhere.
make_certs() {
    [ -f "$TLS_DIR/server.pem" ] && return 0
    say "creating a throwaway CA and server certificate in $TLS_DIR"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=waybill dev CA" \
            -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr
        printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
            'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >server.ext
        openssl x509 -req -days 3650 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -extfile server.ext -out server.pem
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=unrelated CA" \
            -keyout other-ca-key.pem -out other-ca.pem
    ) >"$BASE/tls.log" 2>&1 || { cat "$BASE/tls.log" >&2; die "creating certificates failed"; }
    chmod 644 "$TLS_DIR"/*.pem
}

# A private copy of the server certificate and key for one server's system user.
certs_for() { # user dir
    mkdir -p "$2"
    cp "$TLS_DIR/server.pem" "$TLS_DIR/server-key.pem" "$TLS_DIR/ca.pem" "$2/"
    chown -R "$1" "$2"
    chmod 600 "$2/server-key.pem"
}

start_mariadb() {
    local user; user=$(server_user mysql)
    if [ -f "$MY_DIR/mariadbd.pid" ] && kill -0 "$(cat "$MY_DIR/mariadbd.pid")" 2>/dev/null; then
        say "MariaDB already running on 127.0.0.1:$MYSQL_PORT"
        configure_mariadb
        return 0
    fi
    port_open "$MYSQL_PORT" && die "port $MYSQL_PORT is in use by another program (set WAYBILL_DEV_MYSQL_PORT)"
    mkdir -p "$MY_DIR"
    chown "$user" "$MY_DIR"
    if [ ! -d "$MY_DIR/data/mysql" ]; then
        say "initialising MariaDB in $MY_DIR/data"
        mariadb-install-db --no-defaults --datadir="$MY_DIR/data" --user="$user" \
            --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 ||
            { cat "$MY_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    certs_for "$user" "$MY_DIR/tls"
    local mariadbd; mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    setsid "$mariadbd" --no-defaults --user="$user" --datadir="$MY_DIR/data" \
        --ssl-ca="$MY_DIR/tls/ca.pem" --ssl-cert="$MY_DIR/tls/server.pem" --ssl-key="$MY_DIR/tls/server-key.pem" \
        --port="$MYSQL_PORT" --bind-address=127.0.0.1 --socket="$MY_DIR/mariadb.sock" \
        --pid-file="$MY_DIR/mariadbd.pid" --log-error="$MY_DIR/error.log" \
        --skip-name-resolve --log-bin="$MY_DIR/data/binlog" --server-id=1 \
        --binlog-format=ROW --binlog-row-image=FULL --binlog-expire-logs-seconds=$BINLOG_EXPIRE \
        --max-binlog-size=$BINLOG_SIZE \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --innodb-buffer-pool-size=1G --max-allowed-packet=1G --max-connections=500 \
        </dev/null >/dev/null 2>&1 &
    local i
    for i in $(seq 1 120); do
        mysql_root -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.5
    done
    mysql_root -e 'SELECT 1' >/dev/null 2>&1 ||
        { tail -20 "$MY_DIR/error.log" >&2; die "MariaDB did not start"; }
    configure_mariadb
    say "MariaDB $(mysql_root -N -e 'SELECT VERSION()') on 127.0.0.1:$MYSQL_PORT"
}

# Accounts, and the binary log as catch-up (waybill-export --since) needs it: row format,
# full row images. Idempotent, and also run against a server that is already up (older
# data directories were started without these options; SET GLOBAL reaches new sessions).
configure_mariadb() {
    mysql_root -e "CREATE USER IF NOT EXISTS '$DEV_USER'@'%' IDENTIFIED BY '$DEV_PASS';
                   GRANT ALL PRIVILEGES ON *.* TO '$DEV_USER'@'%' WITH GRANT OPTION;
                   GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '$DEV_USER'@'%';
                   CREATE USER IF NOT EXISTS '$TLS_USER'@'%' IDENTIFIED BY '$TLS_USER' REQUIRE SSL;
                   GRANT ALL PRIVILEGES ON *.* TO '$TLS_USER'@'%';
                   SET GLOBAL binlog_format = 'ROW';
                   SET GLOBAL binlog_row_image = 'FULL';
                   SET GLOBAL binlog_expire_logs_seconds = $BINLOG_EXPIRE;
                   SET GLOBAL max_binlog_size = $BINLOG_SIZE;"
}

start_postgres() {
    local bindir user; bindir=$(pg_bindir) || die "PostgreSQL binaries not found"
    user=$(server_user postgres)
    if run_as "$user" "$bindir/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
        # Started by an older version of this script without prepared transactions
        # (the parallel all-or-nothing import needs them): restart it with them.
        if [ "$(run_as "$user" psql -X -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
                -c 'SHOW max_prepared_transactions' 2>/dev/null)" = 0 ]; then
            say "restarting PostgreSQL with max_prepared_transactions=64"
            run_as "$user" "$bindir/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
        else
            say "PostgreSQL already running on 127.0.0.1:$PG_PORT"
            return 0
        fi
    fi
    port_open "$PG_PORT" && die "port $PG_PORT is in use by another program (set WAYBILL_DEV_PG_PORT)"
    mkdir -p "$PG_DIR"
    chown "$user" "$PG_DIR"
    chmod 755 "$BASE"
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        say "initialising PostgreSQL in $PG_DIR/data"
        echo "$DEV_PASS" >"$PG_DIR/pwfile"
        chown "$user" "$PG_DIR/pwfile"
        run_as "$user" "$bindir/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 --pwfile="$PG_DIR/pwfile" \
            >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        rm -f "$PG_DIR/pwfile"
        # The TLS test account may only come in over TLS (first match wins).
        { printf '%s\n' "hostnossl all $TLS_USER all reject" "hostssl all $TLS_USER all scram-sha-256"
          cat "$PG_DIR/data/pg_hba.conf"; } >"$PG_DIR/pg_hba.new"
        mv "$PG_DIR/pg_hba.new" "$PG_DIR/data/pg_hba.conf"
        chown "$user" "$PG_DIR/data/pg_hba.conf"
    fi
    certs_for "$user" "$PG_DIR/tls"
    run_as "$user" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR -c max_connections=300 -c max_prepared_transactions=64 -c max_wal_size=4GB -c shared_buffers=256MB -c ssl=on -c ssl_cert_file=$PG_DIR/tls/server.pem -c ssl_key_file=$PG_DIR/tls/server-key.pem" \
        start >/dev/null || { tail -20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
    run_as "$user" psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "
        DO \$\$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DEV_USER') THEN
            CREATE ROLE $DEV_USER LOGIN SUPERUSER PASSWORD '$DEV_PASS';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$TLS_USER') THEN
            CREATE ROLE $TLS_USER LOGIN SUPERUSER PASSWORD '$TLS_USER';
          END IF;
        END \$\$;" >/dev/null
    say "$(run_as "$user" psql -X -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -c 'SHOW server_version' | sed 's/^/PostgreSQL /') on 127.0.0.1:$PG_PORT"
}

print_env() {
    cat <<EOF
export WAYBILL_TEST_MYSQL_URL='mysql://$DEV_USER:$DEV_PASS@127.0.0.1:$MYSQL_PORT'
export WAYBILL_TEST_POSTGRES_URL='postgresql://$DEV_USER:$DEV_PASS@127.0.0.1:$PG_PORT'
export WAYBILL_TEST_TLS_CA='$TLS_DIR/ca.pem'
EOF
}

stop_all() {
    if [ -f "$MY_DIR/mariadbd.pid" ]; then
        local pid; pid=$(cat "$MY_DIR/mariadbd.pid")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            say "MariaDB stopped"
        fi
    fi
    local bindir; bindir=$(pg_bindir) || return 0
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        run_as "$(server_user postgres)" "$bindir/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 &&
            say "PostgreSQL stopped"
    fi
    return 0
}

case ${1:-start} in
start)
    install_missing
    mkdir -p "$BASE"
    make_certs
    start_mariadb
    start_postgres
    print_env
    ;;
env) print_env ;;
status)
    if port_open "$MYSQL_PORT"; then say "MariaDB: up on $MYSQL_PORT"; else say "MariaDB: down"; fi
    if port_open "$PG_PORT"; then say "PostgreSQL: up on $PG_PORT"; else say "PostgreSQL: down"; fi
    ;;
stop) stop_all ;;
destroy) stop_all; rm -rf "$BASE"; say "removed $BASE" ;;
*) die "usage: $0 start|env|status|stop|destroy" ;;
esac
