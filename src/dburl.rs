//! Database addresses. A password can arrive in a URL or an env var, and must never leave
//! this module in anything printable: `Display`/`Debug` show `user@host:port/db` only, and
//! parse errors describe what is wrong without echoing the input.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};
use crate::tls::{TlsMode, TlsSettings};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    MySql,
    Postgres,
}

impl Engine {
    fn default_port(self) -> u16 {
        match self {
            Engine::MySql => 3306,
            Engine::Postgres => 5432,
        }
    }

    fn example(self) -> &'static str {
        match self {
            Engine::MySql => "mysql://USER:PASS@HOST:PORT/DB",
            Engine::Postgres => "postgresql://USER:PASS@HOST:PORT/DB",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub engine: Engine,
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<String>,
    pub database: String,
    pub tls: TlsSettings,
    /// Which TLS settings the URL gave itself (env fallbacks fill in the others).
    tls_given: (bool, bool),
    /// Where the settings came from (`--target`, `WAYBILL_TARGET in /srv/.env`, ...),
    /// named when the server refuses them.
    origin: Option<String>,
}

impl DbUrl {
    pub fn new(
        engine: Engine,
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: Option<String>,
        database: impl Into<String>,
    ) -> Self {
        DbUrl {
            engine,
            host: host.into(),
            port,
            user: user.into(),
            password: password.filter(|p| !p.is_empty()),
            database: database.into(),
            tls: TlsSettings::default(),
            tls_given: (false, false),
            origin: None,
        }
    }

    /// Records where the settings came from, for an access-denied error.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// The server refused the user or password: the sentence that says where they came
    /// from (empty when unknown).
    pub(crate) fn origin_hint(&self) -> String {
        match &self.origin {
            Some(o) => format!("; check the user and password: {o}"),
            None => String::new(),
        }
    }

    /// Parses `mysql://` / `mariadb://` or `postgres://` / `postgresql://` URLs.
    /// `what` names the setting in error messages (e.g. "--source").
    pub fn parse(engine: Engine, input: &str, what: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::config(format!(
                "{what}: {why} (expected {}; percent-encode special characters in the password)",
                engine.example()
            ))
        };
        let url = url::Url::parse(input.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        let scheme_ok = match engine {
            Engine::MySql => matches!(url.scheme(), "mysql" | "mariadb"),
            Engine::Postgres => matches!(url.scheme(), "postgres" | "postgresql"),
        };
        if !scheme_ok {
            return Err(bad(&format!("unsupported scheme `{}`", url.scheme())));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("missing host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("user or password is not valid UTF-8 after percent-decoding"))
        };
        let user = decode(url.username())?;
        if user.is_empty() {
            return Err(bad("missing user"));
        }
        let password = url.password().map(decode).transpose()?;
        let database = decode(url.path().trim_start_matches('/'))?;
        if database.is_empty() || database.contains('/') {
            return Err(bad("missing or malformed database name"));
        }
        let mut out = DbUrl::new(
            engine,
            host,
            url.port().unwrap_or(engine.default_port()),
            user,
            password,
            database,
        );
        let (mode_keys, ca_keys): (&[&str], &[&str]) = match engine {
            Engine::MySql => (&["ssl-mode", "ssl_mode"], &["ssl-ca", "ssl_ca"]),
            Engine::Postgres => (&["sslmode"], &["sslrootcert"]),
        };
        for (k, v) in url.query_pairs() {
            if mode_keys.contains(&k.as_ref()) {
                out.tls.mode =
                    TlsMode::parse(&v).ok_or_else(|| bad(&format!("unknown {k} value {v:?}")))?;
                out.tls_given.0 = true;
            } else if ca_keys.contains(&k.as_ref()) {
                out.tls.ca = Some(v.into_owned().into());
                out.tls_given.1 = true;
            } else {
                return Err(bad(&format!(
                    "unsupported URL parameter `{k}` (supported: {}, {})",
                    mode_keys[0], ca_keys[0]
                )));
            }
        }
        Ok(out)
    }

    /// Fills in TLS settings from elsewhere (env vars) where the URL gave none.
    pub fn with_default_tls(mut self, mode: Option<TlsMode>, ca: Option<String>) -> Self {
        if !self.tls_given.0
            && let Some(m) = mode
        {
            self.tls.mode = m;
        }
        if !self.tls_given.1
            && let Some(c) = ca
        {
            self.tls.ca = Some(c.into());
        }
        self
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Fills in a password from elsewhere (an env var) when the URL had none.
    pub fn with_default_password(mut self, password: Option<String>) -> Self {
        if self.password.is_none() {
            self.password = password.filter(|p| !p.is_empty());
        }
        self
    }

    /// The same server, another database.
    pub fn with_database(&self, database: &str) -> Self {
        DbUrl {
            database: database.to_string(),
            ..self.clone()
        }
    }

    /// `user@host:port/db`, the only form that is ever printed or logged.
    pub fn redacted(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}@{}:{}/{}", self.user, host, self.port, self.database)
    }

    pub fn mysql_opts(&self) -> mysql::OptsBuilder {
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(self.password.clone())
            .db_name(Some(self.database.clone()))
            .prefer_socket(false)
            .tcp_nodelay(true)
            .tcp_connect_timeout(Some(std::time::Duration::from_secs(30)))
            .tcp_keepalive_time_ms(Some(60_000))
            .stmt_cache_size(Some(0))
            .ssl_opts(self.tls.mysql_ssl_opts())
    }

    pub fn postgres_config(&self, application_name: &str) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name(application_name)
            .connect_timeout(std::time::Duration::from_secs(30))
            .keepalives_idle(std::time::Duration::from_secs(60))
            .ssl_mode(self.tls.pg_ssl_mode());
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let u = DbUrl::parse(
            Engine::MySql,
            "mysql://app:s%40cr%3At@db.example:3307/shop",
            "--source",
        )
        .unwrap();
        assert_eq!(u.user, "app");
        assert_eq!(u.password(), Some("s@cr:t"));
        assert_eq!(u.port, 3307);
        assert_eq!(u.database, "shop");
        assert_eq!(u.to_string(), "app@db.example:3307/shop");
        assert!(!format!("{u:?}").contains("cr"));
    }

    #[test]
    fn default_port_and_ipv6() {
        let u = DbUrl::parse(Engine::Postgres, "postgresql://u:p@[::1]/x", "--target").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 5432));
        assert_eq!(u.redacted(), "u@[::1]:5432/x");
    }

    #[test]
    fn tls_parameters() {
        let u = DbUrl::parse(
            Engine::MySql,
            "mysql://u:p@h/db?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem",
            "--source",
        )
        .unwrap();
        assert_eq!(u.tls.mode, TlsMode::VerifyFull);
        assert_eq!(
            u.tls.ca.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        let u = u.with_default_tls(Some(TlsMode::Disable), Some("/other".into()));
        assert_eq!(u.tls.mode, TlsMode::VerifyFull, "the URL wins over env");
        let p = DbUrl::parse(Engine::Postgres, "postgres://u:p@h/db?sslmode=require", "t").unwrap();
        assert_eq!(p.tls.mode, TlsMode::Require);
        let d = DbUrl::parse(Engine::Postgres, "postgres://u:p@h/db", "t").unwrap();
        assert_eq!(d.tls.mode, TlsMode::Prefer);
        assert!(DbUrl::parse(Engine::Postgres, "postgres://u:p@h/db?sslmod=require", "t").is_err());
        assert!(DbUrl::parse(Engine::Postgres, "postgres://u:p@h/db?sslmode=maybe", "t").is_err());
    }

    #[test]
    fn errors_never_echo_the_password() {
        for bad in [
            "mysql://u:hunter2@host",
            "postgres://u:hunter2@h/db",
            "mysql://:hunter2@h/db",
            "mysql://u:hunter2@/db",
        ] {
            let e = DbUrl::parse(Engine::MySql, bad, "--source").unwrap_err();
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }
}
