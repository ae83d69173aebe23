//! `--json`: one JSON document on stdout when a run ends, with what the summary shows,
//! for CI jobs and orchestration scripts. Human output then goes to stderr only. A
//! failed run prints a document too (`status: "failed"` and the error), and keeps its
//! exit code. The fields are listed in the README.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::timefmt;

/// When a run started, for `started_at`, `finished_at` and `elapsed_secs`.
pub struct Clock {
    started: Instant,
    started_at: String,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            started: Instant::now(),
            started_at: timefmt::now_rfc3339(),
        }
    }
}

impl Clock {
    pub fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// `started_at`, `finished_at` (RFC 3339 UTC) and `elapsed_secs`.
    pub fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("started_at".into(), json!(self.started_at));
        m.insert("finished_at".into(), json!(timefmt::now_rfc3339()));
        m.insert("elapsed_secs".into(), json!(round3(self.secs())));
        m
    }
}

/// Seconds to the millisecond, so the document does not carry float noise.
pub fn round3(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// The warnings of a run, kept for the document as they are printed.
#[derive(Default)]
pub struct Warnings(Mutex<Vec<String>>);

impl Warnings {
    pub fn push(&self, message: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.to_string());
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The document's common head: `tool`, `version`, `status`.
pub fn head(tool: &str, status: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("tool".into(), json!(tool));
    m.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert("status".into(), json!(status));
    m
}

/// The document for a failed run: the head with `status: "failed"`, `error` (the
/// message the tool prints), then `fields`.
pub fn failed(tool: &str, error: &anyhow::Error, fields: Map<String, Value>) -> Value {
    let mut m = head(tool, "failed");
    m.insert("error".into(), json!(format!("{error:#}")));
    m.extend(fields);
    Value::Object(m)
}

/// Prints the document on stdout, pretty, as the only thing there.
pub fn emit(doc: &Value) {
    let text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into());
    let _ = writeln!(std::io::stdout(), "{text}");
}
