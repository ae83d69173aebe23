//! Test harness: real MariaDB and PostgreSQL servers on loopback (started by
//! `scripts/dev-db.sh`), a scratch database per test, and the built binaries run the way
//! a user runs them, from an isolated working directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql::prelude::Queryable;
use waybill::dburl::{DbUrl, Engine};

pub const HOW_TO_START: &str = "start the test databases first: eval \"$(scripts/dev-db.sh start)\" \
     (scripts/test.sh does it for you), or point WAYBILL_TEST_MYSQL_URL / WAYBILL_TEST_POSTGRES_URL at servers";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "wb_{}_{}_{}",
        tag,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Scratch databases, users and roles are named `wb_<tag>_<pid>_<n>` (users and roles
/// add `_u` / `_r`), and each database records when it was made in its comment. A run
/// removes what other runs left behind: anything whose process no longer exists, or
/// that is older than this. Other test processes (other checkouts, other people) use
/// the same servers at the same time, so nothing of a live process younger than this
/// is touched, and names of any other shape are never touched at all.
pub const STALE_AFTER: Duration = Duration::from_secs(2 * 3600);

const CREATED: &str = "waybill-test created ";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The comment a scratch database carries: when it was made.
pub fn created_comment() -> String {
    format!("{CREATED}{}", now_secs())
}

/// The process id in a scratch name `wb_<tag>_<pid>_<n>`; `None` for any other name.
pub fn scratch_pid(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix("wb_")?.rsplit('_');
    let n = parts.next()?;
    let pid = parts.next()?;
    let tag = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(n) && digits(pid) && !tag.is_empty())
        .then(|| pid.parse().ok())
        .flatten()
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Whether another run's scratch object may be removed: its process is gone, or its
/// recorded creation time is older than `STALE_AFTER`.
pub fn is_stale(name: &str, comment: Option<&str>) -> bool {
    let Some(pid) = scratch_pid(name) else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    let created: Option<u64> = comment
        .and_then(|c| c.strip_prefix(CREATED))
        .and_then(|t| t.trim().parse().ok());
    !process_alive(pid)
        || created.is_some_and(|t| now_secs().saturating_sub(t) > STALE_AFTER.as_secs())
}

/// Drops the scratch databases and users other runs left on the MariaDB server.
pub fn remove_stale_mysql(c: &mut mysql::Conn) {
    let schemas: Vec<(String, Option<String>)> = c
        .query(
            "SELECT SCHEMA_NAME, SCHEMA_COMMENT FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME LIKE 'wb\\_%'",
        )
        // MySQL has no database comments: the process id alone decides.
        .or_else(|_| {
            c.query_map(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'wb\\_%'",
                |n: String| (n, None),
            )
        })
        .unwrap_or_default();
    for (name, comment) in schemas {
        if is_stale(&name, comment.as_deref()) {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"));
        }
    }
    let users: Vec<(String, String)> = c
        .query("SELECT User, Host FROM mysql.user WHERE User LIKE 'wb\\_%\\_u'")
        .unwrap_or_default();
    for (user, host) in users {
        if user
            .strip_suffix("_u")
            .is_some_and(|base| is_stale(base, None))
        {
            let _ = c.query_drop(format!("DROP USER IF EXISTS '{user}'@'{host}'"));
        }
    }
}

/// Drops the scratch databases and roles other runs left on the PostgreSQL server.
pub fn remove_stale_postgres(c: &mut postgres::Client) {
    let dbs: Vec<(String, Option<String>)> = c
        .query(
            "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
             WHERE datname LIKE 'wb\\_%'",
            &[],
        )
        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        .unwrap_or_default();
    for (name, comment) in dbs {
        if is_stale(&name, comment.as_deref()) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
    let roles: Vec<String> = c
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'wb\\_%\\_r'",
            &[],
        )
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    for role in roles {
        if role
            .strip_suffix("_r")
            .is_some_and(|base| is_stale(base, None))
        {
            // Its database went with it (dropped above or by its own run), so it owns
            // nothing that would keep DROP ROLE from working.
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""));
        }
    }
}

static MYSQL_CLEANED: Once = Once::new();
static POSTGRES_CLEANED: Once = Once::new();

fn base(env: &str, default: &str, engine: Engine) -> DbUrl {
    let raw = std::env::var(env).unwrap_or_else(|_| default.to_string());
    let with_db = format!("{}/{}", raw.trim_end_matches('/'), "placeholder");
    DbUrl::parse(engine, &with_db, env).expect("test database URL parses")
}

pub fn mysql_base() -> DbUrl {
    base(
        "WAYBILL_TEST_MYSQL_URL",
        "mysql://waybill:waybill@127.0.0.1:33306",
        Engine::MySql,
    )
}

pub fn pg_base() -> DbUrl {
    base(
        "WAYBILL_TEST_POSTGRES_URL",
        "postgresql://waybill:waybill@127.0.0.1:55432",
        Engine::Postgres,
    )
}

/// The URL as text, password included, for passing to the binaries.
pub fn url_text(u: &DbUrl) -> String {
    let scheme = match u.engine {
        Engine::MySql => "mysql",
        Engine::Postgres => "postgresql",
    };
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'-')
        .remove(b'.');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, SET).to_string();
    match u.password() {
        Some(p) => format!(
            "{scheme}://{}:{}@{}:{}/{}",
            enc(&u.user),
            enc(p),
            u.host,
            u.port,
            enc(&u.database)
        ),
        None => format!(
            "{scheme}://{}@{}:{}/{}",
            enc(&u.user),
            u.host,
            u.port,
            enc(&u.database)
        ),
    }
}

pub fn mysql_conn(u: &DbUrl) -> mysql::Conn {
    let opts = u
        .mysql_opts()
        .db_name(None::<String>)
        .init(vec!["SET NAMES utf8mb4"]);
    waybill::source::mysql::open(u, opts)
        .unwrap_or_else(|e| panic!("cannot reach MariaDB at {u}: {e}\n{HOW_TO_START}"))
}

pub fn pg_client(u: &DbUrl) -> postgres::Client {
    u.postgres_config("waybill-tests")
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {u}: {e}\n{HOW_TO_START}"))
}

/// A fresh MariaDB database, dropped at the end of the test.
pub struct MyDb {
    pub name: String,
    pub url: DbUrl,
}

impl MyDb {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        let url = mysql_base().with_database(&name);
        let mut c = mysql_conn(&url);
        MYSQL_CLEANED.call_once(|| remove_stale_mysql(&mut c));
        let create = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4");
        // MariaDB records when it was made; MySQL has no database comments.
        c.query_drop(format!("{create} COMMENT '{}'", created_comment()))
            .or_else(|_| c.query_drop(&create))
            .unwrap();
        MyDb { name, url }
    }

    pub fn conn(&self) -> mysql::Conn {
        let mut c = mysql_conn(&self.url);
        c.query_drop(format!("USE `{}`", self.name)).unwrap();
        c
    }

    /// Runs statements in one session (sql_mode relaxed so zero dates can be stored).
    pub fn exec(&self, statements: &[&str]) {
        let mut c = self.conn();
        c.query_drop("SET SESSION sql_mode = ''").unwrap();
        for s in statements {
            c.query_drop(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    pub fn url_text(&self) -> String {
        url_text(&self.url)
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        if let Ok(mut c) =
            waybill::source::mysql::open(&self.url, self.url.mysql_opts().db_name(None::<String>))
        {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

/// A fresh PostgreSQL database, dropped at the end of the test.
pub struct PgDb {
    pub name: String,
    pub url: DbUrl,
}

impl PgDb {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        let admin = pg_base().with_database("postgres");
        let mut c = pg_client(&admin);
        POSTGRES_CLEANED.call_once(|| remove_stale_postgres(&mut c));
        // Two statements: CREATE DATABASE cannot run inside a (multi-statement) transaction.
        c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        c.batch_execute(&format!(
            "COMMENT ON DATABASE \"{name}\" IS '{}'",
            created_comment()
        ))
        .unwrap();
        PgDb {
            url: pg_base().with_database(&name),
            name,
        }
    }

    pub fn client(&self) -> postgres::Client {
        pg_client(&self.url)
    }

    pub fn exec(&self, sql: &str) {
        self.client()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
    }

    pub fn url_text(&self) -> String {
        url_text(&self.url)
    }

    /// One value as text (NULL as None).
    pub fn text(&self, sql: &str) -> Option<String> {
        self.client()
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{e:?}\n{sql}"))
            .get(0)
    }

    pub fn count(&self, table: &str) -> i64 {
        self.client()
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = pg_base()
            .with_database("postgres")
            .postgres_config("waybill-tests")
            .connect(postgres::NoTls)
        {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A MariaDB account made by a test (`<db>_u`), dropped when the guard goes out of
/// scope: at the end of the test, and also when it fails.
pub struct MyUser {
    pub name: String,
    password: String,
    url: DbUrl,
}

impl MyUser {
    /// Creates the account, then runs `grants` (each with `{user}` for `'name'@'%'`).
    pub fn create(db: &MyDb, password: &str, grants: &[&str]) -> Self {
        let user = MyUser {
            name: format!("{}_u", db.name),
            password: password.to_string(),
            url: db.url.clone(),
        };
        let mut c = db.conn();
        c.query_drop(format!(
            "CREATE USER '{}'@'%' IDENTIFIED BY '{password}'",
            user.name
        ))
        .unwrap();
        for g in grants {
            let g = g.replace("{user}", &format!("'{}'@'%'", user.name));
            c.query_drop(&g).unwrap_or_else(|e| panic!("{g}: {e}"));
        }
        user
    }

    /// The URL of `db` for this account, password included.
    pub fn url_text(&self, db: &MyDb) -> String {
        format!(
            "mysql://{}:{}@{}:{}/{}",
            self.name, self.password, db.url.host, db.url.port, db.name
        )
    }
}

impl Drop for MyUser {
    fn drop(&mut self) {
        if let Ok(mut c) =
            waybill::source::mysql::open(&self.url, self.url.mysql_opts().db_name(None::<String>))
        {
            let _ = c.query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.name));
        }
    }
}

/// A PostgreSQL login role made by a test (`<db>_r`), with all rights on its database
/// and schema `public`. The guard drops what it owns there and the role itself at the
/// end of the test, and also when it fails.
pub struct PgRole {
    pub name: String,
    password: String,
    database: String,
}

impl PgRole {
    pub fn create(pg: &PgDb, password: &str) -> Self {
        let role = PgRole {
            name: format!("{}_r", pg.name),
            password: password.to_string(),
            database: pg.name.clone(),
        };
        pg.exec(&format!(
            "CREATE ROLE {r} LOGIN PASSWORD '{password}'; GRANT ALL ON DATABASE \"{db}\" TO {r}; \
             GRANT ALL ON SCHEMA public TO {r};",
            r = role.name,
            db = pg.name
        ));
        role
    }

    /// The URL of `pg` for this role, password included.
    pub fn url_text(&self, pg: &PgDb) -> String {
        format!(
            "postgresql://{}:{}@{}:{}/{}",
            self.name, self.password, pg.url.host, pg.url.port, pg.name
        )
    }

    /// A client connected as this role.
    pub fn client(&self, pg: &PgDb) -> postgres::Client {
        DbUrl::parse(Engine::Postgres, &self.url_text(pg), "role")
            .unwrap()
            .postgres_config("waybill-tests")
            .connect(postgres::NoTls)
            .unwrap()
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        let connect = |db: &str| {
            pg_base()
                .with_database(db)
                .postgres_config("waybill-tests")
                .connect(postgres::NoTls)
        };
        // What it owns and the rights it holds live in its database (if that still exists).
        if let Ok(mut c) = connect(&self.database) {
            let _ = c.batch_execute(&format!("DROP OWNED BY {}", self.name));
        }
        if let Ok(mut c) = connect("postgres") {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.name));
        }
    }
}

/// What a binary did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(o: Output) -> Self {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn failed(self) -> Self {
        assert_ne!(
            self.code,
            Some(0),
            "command should have failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn last_line(&self) -> String {
        self.stdout.lines().last().unwrap_or_default().to_string()
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// An isolated working directory (its own .env, csv_exports/ and audit log).
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Self {
        Work {
            dir: tempfile::Builder::new()
                .prefix("waybill-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn audit_log(&self) -> PathBuf {
        self.path().join("csv_exports/migration_log.jsonl")
    }

    pub fn command(&self, bin: &str) -> Command {
        let exe = match bin {
            "waybill-export" => env!("CARGO_BIN_EXE_waybill-export"),
            "waybill-import" => env!("CARGO_BIN_EXE_waybill-import"),
            "waybill-log" => env!("CARGO_BIN_EXE_waybill-log"),
            "waybill-verify" => env!("CARGO_BIN_EXE_waybill-verify"),
            other => panic!("unknown binary {other}"),
        };
        self.isolated(exe)
    }

    /// Any program run like the binaries (same directory, same clean environment).
    pub fn command_path(&self, program: &Path) -> Command {
        self.isolated(program.to_str().expect("a UTF-8 path"))
    }

    /// A bash script run like the binaries (same directory, same clean environment).
    pub fn bash(&self, script: &str) -> Command {
        let mut c = self.isolated("bash");
        c.arg("-c").arg(script);
        c
    }

    fn isolated(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.path()).stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("WAYBILL_") || k.starts_with("MYSQL_") || k.starts_with("POSTGRES_") {
                c.env_remove(k);
            }
        }
        c
    }

    pub fn run(&self, bin: &str, args: &[&str]) -> Ran {
        Ran::from(self.command(bin).args(args).output().unwrap())
    }

    /// Exports `db` into `<work>/out` and returns the dump directory.
    pub fn export(&self, db: &MyDb, extra: &[&str]) -> PathBuf {
        self.export_url(&db.url_text(), extra)
    }

    pub fn export_url(&self, url: &str, extra: &[&str]) -> PathBuf {
        let mut args = vec!["--source", url, "--out", "out"];
        args.extend_from_slice(extra);
        let ran = self.run("waybill-export", &args).ok();
        let dir = PathBuf::from(ran.last_line());
        assert!(
            dir.is_absolute() && dir.join("migration_manifest.json").is_file(),
            "the last line of stdout must be the absolute path of the finished dump, got {:?}\n{}",
            ran.last_line(),
            ran.all()
        );
        dir
    }

    pub fn import(&self, pg: &PgDb, dump: &Path, extra: &[&str]) -> Ran {
        let url = pg.url_text();
        let dump = dump.to_str().unwrap();
        let mut args = vec!["--target", url.as_str(), dump];
        args.extend_from_slice(extra);
        self.run("waybill-import", &args)
    }
}

/// The statuses of the last run of `tool` (`export`, `import`) in the work directory's
/// audit log, in order.
pub fn last_run_statuses(work: &Work, tool: &str) -> Vec<String> {
    let text = std::fs::read_to_string(work.audit_log()).unwrap_or_default();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["tool"] == tool)
        .collect();
    let Some(run) = events.last().map(|e| e["run_id"].clone()) else {
        return Vec::new();
    };
    events
        .iter()
        .filter(|e| e["run_id"] == run)
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

/// A failed import wrote nothing: its audit trail is exactly `started`, `failed` (no
/// table loaded, no transaction to roll back), and `unchanged` finds the target's
/// sentinel rows as they were. A check placed after the TRUNCATE, even inside the
/// transaction, would show `rolled_back`; with `--jobs` it would also lose the rows.
pub fn assert_no_write(work: &Work, pg: &PgDb, unchanged: impl Fn(&PgDb)) {
    assert_eq!(
        last_run_statuses(work, "import"),
        ["started", "failed"],
        "the import must fail before any write"
    );
    unchanged(pg);
}

pub fn manifest(dump: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dump.join("migration_manifest.json")).unwrap()).unwrap()
}

pub fn table<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("table {name} not in manifest"))
}

pub fn column<'a>(m: &'a serde_json::Value, t: &str, c: &str) -> &'a serde_json::Value {
    table(m, t)["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == c)
        .unwrap_or_else(|| panic!("column {t}.{c} not in manifest"))
}

/// Makes sure database `sakila` holds exactly the sample data from ../shared. It is
/// loaded under a lock, so parallel test processes do not load it at the same time, and
/// loaded again whenever its fingerprint (see `schema_fingerprint`) differs from the one
/// recorded when it was loaded: a copy that a test or a person altered is never used.
/// Checked once per test process.
pub fn ensure_sakila() -> DbUrl {
    static CHECKED: OnceLock<()> = OnceLock::new();
    let url = mysql_base().with_database("sakila");
    CHECKED.get_or_init(|| load_sakila_unless_intact(&url));
    url
}

/// A SHA-256 over everything a database holds: the columns of every table and view, the
/// view definitions, and `CHECKSUM TABLE` of every base table (which reads every row).
pub fn schema_fingerprint(c: &mut mysql::Conn, schema: &str) -> String {
    use sha2::{Digest, Sha256};
    let columns: Vec<(String, String, String)> = c
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (schema,),
        )
        .unwrap();
    let views: Vec<(String, String)> = c
        .exec(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS \
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (schema,),
        )
        .unwrap();
    let tables: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
             AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (schema,),
        )
        .unwrap();
    let mut text = format!("{columns:?}\n{views:?}\n");
    if !tables.is_empty() {
        let list: Vec<String> = tables.iter().map(|t| format!("`{schema}`.`{t}`")).collect();
        let sums: Vec<(String, Option<u64>)> = c
            .query(format!("CHECKSUM TABLE {} EXTENDED", list.join(", ")))
            .unwrap();
        text.push_str(&format!("{sums:?}"));
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn load_sakila_unless_intact(url: &DbUrl) {
    let mut c = mysql_conn(url);
    let locked: Option<Option<i64>> = c
        .query_first("SELECT GET_LOCK('waybill_test_sakila', 600)")
        .unwrap();
    assert_eq!(
        locked,
        Some(Some(1)),
        "could not take the lock that guards loading Sakila within 10 minutes"
    );
    let recorded: Option<String> = c
        .query_first("SELECT fingerprint FROM waybill_test_meta.sakila_loaded")
        .ok()
        .flatten();
    if recorded.as_deref() != Some(schema_fingerprint(&mut c, "sakila").as_str()) {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/sakila");
        assert!(
            shared.join("sakila-schema.sql").is_file(),
            "the Sakila sample is missing: expected it in {}",
            shared.display()
        );
        // sakila-schema.sql drops and creates the database itself.
        for file in ["sakila-schema.sql", "sakila-data.sql"] {
            let out = Command::new("mariadb")
                .args([
                    "--no-defaults",
                    &format!("-h{}", url.host),
                    &format!("-P{}", url.port),
                    &format!("-u{}", url.user),
                    &format!("-p{}", url.password().unwrap_or("")),
                ])
                .stdin(std::fs::File::open(shared.join(file)).unwrap())
                .output()
                .expect(
                    "the mariadb client is needed to load Sakila (scripts/dev-db.sh installs it)",
                );
            assert!(
                out.status.success(),
                "loading {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let fingerprint = schema_fingerprint(&mut c, "sakila");
        c.query_drop("CREATE DATABASE IF NOT EXISTS waybill_test_meta")
            .unwrap();
        c.query_drop("DROP TABLE IF EXISTS waybill_test_meta.sakila_loaded")
            .unwrap();
        c.query_drop(
            "CREATE TABLE waybill_test_meta.sakila_loaded (fingerprint CHAR(64) NOT NULL)",
        )
        .unwrap();
        c.exec_drop(
            "INSERT INTO waybill_test_meta.sakila_loaded VALUES (?)",
            (fingerprint,),
        )
        .unwrap();
    }
    let released: Option<Option<i64>> = c
        .query_first("SELECT RELEASE_LOCK('waybill_test_sakila')")
        .unwrap();
    assert_eq!(released, Some(Some(1)), "releasing the Sakila lock");
}

pub const SAKILA_COUNTS: &[(&str, i64)] = &[
    ("actor", 200),
    ("address", 603),
    ("category", 16),
    ("city", 600),
    ("country", 109),
    ("customer", 599),
    ("film", 1000),
    ("film_actor", 5462),
    ("film_category", 1000),
    ("film_text", 1000),
    ("inventory", 4581),
    ("language", 6),
    ("payment", 16049),
    ("rental", 16044),
    ("staff", 2),
    ("store", 2),
];

/// Compares Sakila values (not just counts) between the source and a loaded target.
pub fn assert_sakila_values(pg: &PgDb, url: &DbUrl) {
    let mut c = mysql_conn(url);
    c.query_drop("SET SESSION group_concat_max_len = 1000000")
        .unwrap();
    let checks = [
        (
            "SELECT MD5(GROUP_CONCAT(title ORDER BY film_id SEPARATOR '|')) FROM sakila.film",
            "SELECT md5(string_agg(title, '|' ORDER BY film_id)) FROM film",
        ),
        (
            "SELECT CAST(SUM(amount) AS CHAR) FROM sakila.payment",
            "SELECT sum(amount)::text FROM payment",
        ),
        (
            "SELECT LOWER(MD5(picture)) FROM sakila.staff WHERE staff_id = 1",
            "SELECT md5(picture) FROM staff WHERE staff_id = 1",
        ),
        (
            "SELECT CAST(SUM(active) AS CHAR) FROM sakila.customer",
            "SELECT count(*)::text FROM customer WHERE active",
        ),
        (
            "SELECT CAST(UNIX_TIMESTAMP(MAX(last_update)) AS CHAR) FROM sakila.rental",
            "SELECT extract(epoch FROM max(last_update))::bigint::text FROM rental",
        ),
        (
            "SELECT MD5(GROUP_CONCAT(CONCAT_WS(',', rental_id, rental_date, return_date) ORDER BY rental_id SEPARATOR '|')) FROM sakila.rental",
            "SELECT md5(string_agg(concat_ws(',', rental_id, rental_date, return_date), '|' ORDER BY rental_id)) FROM rental",
        ),
    ];
    for (my, pg_sql) in checks {
        let expected: Option<String> = c.query_first(my).unwrap().flatten();
        assert!(expected.is_some(), "{my}");
        assert_eq!(pg.text(pg_sql), expected, "{pg_sql}");
    }
}

/// (row count, sum of the first 60 bits of each row's md5) of a MariaDB table.
pub fn my_digest(c: &mut mysql::Conn, table: &str, row: &str) -> (i64, String) {
    c.query_first(format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(MD5({row}), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {table}"
    ))
    .unwrap()
    .unwrap()
}

/// The same digest of a PostgreSQL table.
pub fn pg_digest(pg: &PgDb, table: &str, row: &str) -> (i64, String) {
    let r = pg
        .client()
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(('x' || substr(md5({row}), 1, 15))::bit(60)::bigint), 0)::text FROM {table}"
            ),
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// Every `(table, column)` sequence hands out a value above the loaded maximum.
pub fn assert_sequences_past_max(pg: &PgDb, columns: &[(&str, &str)]) {
    let mut c = pg.client();
    for (t, col) in columns {
        let next: i64 = c
            .query_one(
                &format!("SELECT nextval(pg_get_serial_sequence('{t}', '{col}'))"),
                &[],
            )
            .unwrap()
            .get(0);
        let max: i64 = c
            .query_one(
                &format!("SELECT coalesce(max({col}), 0)::bigint FROM {t}"),
                &[],
            )
            .unwrap()
            .get(0);
        assert!(
            next > max,
            "{t}.{col}: next value {next} must be above the max {max}"
        );
    }
}

/// A table big enough (600,000 rows, about 100 MB of CSV) to catch an export or an
/// import in the act.
pub fn big_db() -> MyDb {
    let db = MyDb::new("big");
    db.exec(&[
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255), n BIGINT)",
        "INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 150), seq * 7 FROM seq_1_to_600000",
    ]);
    db
}

/// Waits until `found` returns something, failing after a minute.
pub fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = found() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The dump directory below `out` once a data file is being written (`*.csv.partial`):
/// the export is reading rows. (`export_state.json.partial` comes and goes before that.)
pub fn csv_partial_in(out: &Path) -> Option<PathBuf> {
    for dump in std::fs::read_dir(out).ok()?.flatten() {
        for f in std::fs::read_dir(dump.path()).ok()?.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv.partial") || name.ends_with(".csv.zst.partial") {
                return Some(dump.path());
            }
        }
    }
    None
}

pub fn partial_in(out: &Path) -> Option<PathBuf> {
    for dump in std::fs::read_dir(out).ok()?.flatten() {
        for f in std::fs::read_dir(dump.path()).ok()?.flatten() {
            if f.file_name().to_string_lossy().ends_with(".partial") {
                return Some(dump.path());
            }
        }
    }
    None
}

/// A target for `big_db()`'s dump holding one row of its own (id -1, pad `kept`), so a
/// test can see that a failed import left it unchanged.
pub fn big_target(tag: &str) -> PgDb {
    let pg = PgDb::new(tag);
    pg.exec("CREATE TABLE big (id int PRIMARY KEY, pad text, n bigint); INSERT INTO big VALUES (-1, 'kept', 0);");
    pg
}

/// Starts `waybill-import` of `dump` into `pg` and returns once its COPY is running,
/// with the backend's pid.
pub fn import_until_copy(work: &Work, pg: &PgDb, dump: &Path) -> (std::process::Child, i32) {
    let child = work
        .command("waybill-import")
        .args(["--target", &pg.url_text(), dump.to_str().unwrap(), "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watch = pg.client();
    let pid = wait_for("the COPY to start", || {
        watch
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%' AND state = 'active'",
                &[&pg.name],
            )
            .unwrap()
            .map(|r| r.get::<_, i32>(0))
    });
    (child, pid)
}

/// Sends `signal` (`INT`, `TERM`, `HUP`) to a child process.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{signal} failed");
}

/// Every event of the audit trail in `work`, in order.
pub fn audit_events(work: &Work) -> Vec<serde_json::Value> {
    std::fs::read_to_string(work.audit_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The import logs (`import_log_*`) in a dump directory.
pub fn import_logs(dump: &Path) -> std::collections::BTreeSet<PathBuf> {
    std::fs::read_dir(dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("import_log_")
        })
        .collect()
}

/// An import log's messages, the timestamp removed.
fn log_messages(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, m)| m).to_string())
        .collect()
}

/// The messages of the one import log written since `before` (`import_logs`).
pub fn new_import_log(dump: &Path, before: &std::collections::BTreeSet<PathBuf>) -> Vec<String> {
    let new: Vec<PathBuf> = import_logs(dump).difference(before).cloned().collect();
    assert_eq!(new.len(), 1, "one new import log expected: {new:?}");
    log_messages(&new[0])
}

/// The messages of the newest import log of a dump (by time written, then name).
pub fn last_import_log(dump: &Path) -> Vec<String> {
    let newest = import_logs(dump)
        .into_iter()
        .max_by_key(|p| (std::fs::metadata(p).unwrap().modified().unwrap(), p.clone()))
        .expect("an import log");
    log_messages(&newest)
}

/// The staging schemas (`waybill_stage_<txid>`) in a PostgreSQL database now.
pub fn staging_schemas(pg: &PgDb) -> Vec<String> {
    pg.client()
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'waybill\\_stage\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The last two audit events of the last import in `work`: `rolled_back`, then `failed`.
pub fn assert_rolled_back_then_failed(work: &Work) {
    let statuses = last_run_statuses(work, "import");
    assert_eq!(
        statuses[statuses.len().saturating_sub(2)..],
        ["rolled_back".to_string(), "failed".to_string()]
    );
}
