//! The audit trail: one JSON object per line, appended under an exclusive file lock and
//! fsynced, so concurrent writers never interleave and a crash loses at most the event
//! being written. Each line carries `prev_sha256`, the SHA-256 of the line before it (64
//! zeros for the first), and ends with `sha256`, the SHA-256 of the line itself without
//! that last member. Editing any line breaks its own hash; removing or inserting a line
//! breaks the chain. This is tamper-evident, not tamper-proof: someone who rewrites the
//! whole file from the edit onwards can recompute every hash.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dump::hashing::{sha256_hex, to_hex};
use crate::error::{Error, Result};
use crate::timefmt;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const STATUSES: &[&str] = &[
    "started",
    "in_progress",
    "completed",
    "rolled_back",
    "failed",
];

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub ts: String,
    pub run_id: String,
    /// `export`, `import` or `log`.
    pub tool: String,
    pub status: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// `user@host:port/db`, never with a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub os_user: String,
    pub hostname: String,
    /// The larger run this one is part of (e.g. a maintenance window opened with
    /// `waybill-log started`, passed on through WAYBILL_RUN_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    pub prev_sha256: String,
}

/// A line as read back, with its position and hashes.
#[derive(Clone, Debug)]
pub struct Entry {
    pub line: usize,
    pub event: Event,
    pub sha256: String,
}

pub fn os_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| whoami::username().ok())
        .unwrap_or_else(|| "unknown".into())
}

pub fn hostname() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown".into())
}

/// `20261123T101502Z-export-3fa9c1d2`: sortable, unique per run.
pub fn new_run_id(tool: &str) -> String {
    let now = timefmt::now();
    let mut h = Sha256::new();
    h.update(now.unix_timestamp_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(hostname().as_bytes());
    h.update(format!("{:?}", std::thread::current().id()).as_bytes());
    let stamp = timefmt::stamp(now).replace('_', "T");
    format!("{stamp}Z-{tool}-{}", &to_hex(h.finalize())[..8])
}

const SELF_HASH_KEY: &str = ",\"sha256\":\"";

/// Serializes an event into its final line (without the newline): the JSON object with
/// `sha256` appended as its last member.
fn seal(event: &Event) -> String {
    let body = serde_json::to_string(event).expect("event serializes");
    let digest = sha256_hex(body.as_bytes());
    format!("{}{SELF_HASH_KEY}{digest}\"}}", &body[..body.len() - 1])
}

/// Splits a line into the hashed body and its claimed `sha256`.
fn unseal(line: &str) -> Option<(String, &str)> {
    let tail_len = SELF_HASH_KEY.len() + 64 + 2;
    if line.len() < tail_len || !line.ends_with("\"}") {
        return None;
    }
    let split = line.len() - tail_len;
    let (head, tail) = line.split_at(split);
    let claimed = tail.strip_prefix(SELF_HASH_KEY)?.strip_suffix("\"}")?;
    Some((format!("{head}}}"), claimed))
}

pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditLog { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Audit {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Appends one event; fills in `prev_sha256`. Returns the line written.
    pub fn append(&self, mut event: Event) -> Result<String> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        f.lock()
            .map_err(|e| self.err(format!("cannot lock: {e}")))?;
        let result = (|| {
            let (last, ends_with_newline) =
                last_line(&mut f).map_err(|e| Error::io(&self.path, e))?;
            event.prev_sha256 = match &last {
                Some(l) => sha256_hex(l.as_bytes()),
                None => GENESIS.into(),
            };
            let line = seal(&event);
            let mut out = Vec::with_capacity(line.len() + 2);
            if last.is_some() && !ends_with_newline {
                out.push(b'\n');
            }
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            f.write_all(&out)
                .and_then(|_| f.sync_data())
                .map_err(|e| Error::io(&self.path, e))?;
            Ok(line)
        })();
        let _ = f.unlock();
        result
    }

    /// Every line, parsed. Fails on the first line that is not an event.
    pub fn read(&self) -> Result<Vec<Entry>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| {
                let event: Event = serde_json::from_str(l)
                    .map_err(|e| self.err(format!("line {}: not an audit event ({e})", i + 1)))?;
                Ok(Entry {
                    line: i + 1,
                    event,
                    sha256: sha256_hex(l.as_bytes()),
                })
            })
            .collect()
    }

    /// Checks every line's own hash and the chain. `Ok(n)` is the number of events;
    /// `Err` names the first broken line.
    pub fn verify(&self) -> Result<usize> {
        let text = fs::read_to_string(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let mut prev = GENESIS.to_string();
        let mut count = 0;
        let lines: Vec<&str> = text.split('\n').collect();
        for (i, line) in lines.iter().copied().enumerate() {
            let n = i + 1;
            if line.is_empty() {
                if i + 1 == lines.len() {
                    continue;
                }
                return Err(self.err(format!("line {n}: empty line inserted")));
            }
            let event: Event = serde_json::from_str(line).map_err(|_| {
                self.err(format!(
                    "line {n}: not a complete JSON event (edited, or a write was cut off)"
                ))
            })?;
            let (body, claimed) = unseal(line).ok_or_else(|| {
                self.err(format!(
                    "line {n}: has no trailing sha256 (edited or not written by waybill)"
                ))
            })?;
            if sha256_hex(body.as_bytes()) != claimed {
                return Err(self.err(format!(
                    "line {n}: content does not match its sha256: the line was edited (run {}, status {})",
                    event.run_id, event.status
                )));
            }
            if event.prev_sha256 != prev {
                let why = if n == 1 {
                    "the log does not begin with its first event: lines were removed from the start"
                        .to_string()
                } else {
                    format!(
                        "the line before it is not the one it was written after: a line was removed or inserted between line {} and line {n}",
                        n - 1
                    )
                };
                return Err(self.err(format!("line {n}: chain broken, {why}")));
            }
            prev = sha256_hex(line.as_bytes());
            count += 1;
        }
        Ok(count)
    }
}

/// The last line of the file (without its newline) and whether the file ends with one.
fn last_line(f: &mut File) -> std::io::Result<(Option<String>, bool)> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((None, true));
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    let block = 4096u64;
    loop {
        let start = pos.saturating_sub(block);
        let mut buf = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        buf.extend_from_slice(&tail);
        tail = buf;
        let search_end = if tail.last() == Some(&b'\n') {
            tail.len() - 1
        } else {
            tail.len()
        };
        if let Some(nl) = tail[..search_end].iter().rposition(|&b| b == b'\n') {
            let ends = tail.last() == Some(&b'\n');
            let line = String::from_utf8_lossy(&tail[nl + 1..search_end]).into_owned();
            return Ok((Some(line), ends));
        }
        if start == 0 {
            let ends = tail.last() == Some(&b'\n');
            let line = String::from_utf8_lossy(&tail[..search_end]).into_owned();
            return Ok((Some(line), ends));
        }
        pos = start;
    }
}

/// The events of one export or import run, sharing a run id and the fields that do
/// not change during the run (set once known, e.g. the dump directory).
pub struct Run {
    log: AuditLog,
    base: std::sync::Mutex<Event>,
}

impl Run {
    pub fn new(log: AuditLog, tool: &str) -> Self {
        Run {
            log,
            base: std::sync::Mutex::new(Event {
                run_id: new_run_id(tool),
                tool: tool.into(),
                os_user: os_user(),
                hostname: hostname(),
                ..Event::default()
            }),
        }
    }

    fn base(&self) -> std::sync::MutexGuard<'_, Event> {
        self.base.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The run's id (`20261123T101502Z-export-3fa9c1d2`).
    pub fn run_id(&self) -> String {
        self.base().run_id.clone()
    }

    pub fn set_source(&self, s: String) {
        self.base().source = Some(s);
    }

    pub fn set_target(&self, s: String) {
        self.base().target = Some(s);
    }

    pub fn set_dump_dir(&self, d: &Path) {
        self.base().dump_dir = Some(d.display().to_string());
    }

    pub fn set_parent_run_id(&self, id: Option<String>) {
        self.base().parent_run_id = id.filter(|s| !s.is_empty());
    }

    pub fn set_manifest_sha256(&self, h: String) {
        self.base().manifest_sha256 = Some(h);
    }

    /// An event with the run's fields filled in; fill the rest and `write` it.
    pub fn event(&self, status: &str, message: impl Into<String>) -> Event {
        Event {
            ts: timefmt::now_rfc3339(),
            status: status.into(),
            message: message.into(),
            ..self.base().clone()
        }
    }

    pub fn write(&self, event: Event) -> Result<()> {
        self.log.append(event).map(|_| ())
    }

    /// Writes an event mid-run; a failure is reported, not fatal, so a full disk under
    /// the log does not hide the real outcome.
    pub fn write_or_warn(&self, event: Event) {
        if let Err(e) = self.write(event) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not write the audit event: {e}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("waybill-audit-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_file(&d);
        d
    }

    #[test]
    fn seal_and_unseal() {
        let e = Event {
            message: "with \"quotes\" and \u{1F600}".into(),
            ..Event::default()
        };
        let line = seal(&e);
        let (body, claimed) = unseal(&line).unwrap();
        assert_eq!(sha256_hex(body.as_bytes()), claimed);
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn chain_detects_edits_and_removals() {
        let p = tmp("chain");
        let log = AuditLog::new(&p);
        for s in ["started", "in_progress", "completed"] {
            log.append(Event {
                status: s.into(),
                ..Event::default()
            })
            .unwrap();
        }
        assert_eq!(log.verify().unwrap(), 3);
        let text = fs::read_to_string(&p).unwrap();
        fs::write(&p, text.replace("\"completed\"", "\"failed\"")).unwrap();
        assert!(log.verify().unwrap_err().to_string().contains("line 3"));
        let lines: Vec<&str> = text.lines().collect();
        fs::write(&p, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(
            log.verify()
                .unwrap_err()
                .to_string()
                .contains("line 2: chain broken")
        );
        fs::write(&p, format!("{}\n{}\n", lines[1], lines[2])).unwrap();
        assert!(log.verify().unwrap_err().to_string().contains("line 1"));
        let _ = fs::remove_file(&p);
    }

    /// `last_line` reads the file backwards in 4 KiB blocks: lines shorter than, equal
    /// to and longer than a block, or several blocks, with and without a final newline.
    #[test]
    fn last_line_across_block_boundaries() {
        let p = tmp("last");
        let read = |content: &str| {
            fs::write(&p, content).unwrap();
            last_line(&mut File::open(&p).unwrap()).unwrap()
        };
        assert_eq!(read(""), (None, true));
        for n in [1, 4094, 4095, 4096, 4097, 8191, 8192, 8193, 12_345] {
            let long = "x".repeat(n - 1) + "y";
            assert_eq!(
                read(&format!("first\n{long}\n")),
                (Some(long.clone()), true),
                "{n}"
            );
            assert_eq!(
                read(&format!("first\n{long}")),
                (Some(long.clone()), false),
                "{n}"
            );
            assert_eq!(
                read(&format!("{long}\n")),
                (Some(long.clone()), true),
                "{n}"
            );
            assert_eq!(read(&long), (Some(long.clone()), false), "{n}");
            let before = "z".repeat(n);
            assert_eq!(
                read(&format!("{before}\nlast\n")),
                (Some("last".to_string()), true),
                "{n}"
            );
        }
        let _ = fs::remove_file(&p);
    }

    /// An event over 4 KiB is chained whole: the next line's `prev_sha256` is the hash
    /// of the entire long line, and the log verifies.
    #[test]
    fn a_long_event_is_chained_whole() {
        let p = tmp("long");
        let log = AuditLog::new(&p);
        let first = log
            .append(Event {
                status: "started".into(),
                message: "m".repeat(10_000),
                ..Event::default()
            })
            .unwrap();
        assert!(first.len() > 10_000);
        let second = log
            .append(Event {
                status: "completed".into(),
                ..Event::default()
            })
            .unwrap();
        let second: Event = serde_json::from_str(&second).unwrap();
        assert_eq!(second.prev_sha256, sha256_hex(first.as_bytes()));
        assert_eq!(log.verify().unwrap(), 2);
        // A line cut off without its newline is closed before the next event.
        let text = fs::read_to_string(&p).unwrap();
        fs::write(&p, text.trim_end_matches('\n')).unwrap();
        let third = log
            .append(Event {
                status: "failed".into(),
                ..Event::default()
            })
            .unwrap();
        assert!(
            fs::read_to_string(&p)
                .unwrap()
                .ends_with(&format!("\"}}\n{third}\n"))
        );
        assert_eq!(log.verify().unwrap(), 3);
        let _ = fs::remove_file(&p);
    }

    #[test]
    fn unseal_needs_the_whole_tail() {
        let hash = "a".repeat(64);
        // Exactly the tail: an empty body.
        assert_eq!(
            unseal(&format!("{SELF_HASH_KEY}{hash}\"}}")),
            Some(("}".to_string(), hash.as_str()))
        );
        // Shorter than the tail, with or without the closing `"}`.
        assert_eq!(unseal("{\"status\":\"started\"}"), None);
        assert_eq!(unseal("\"}"), None);
        assert_eq!(unseal(""), None);
        // Long enough, but not ending like a sealed line.
        assert_eq!(unseal(&format!("{SELF_HASH_KEY}{hash}\"}} ")), None);
        assert_eq!(unseal(&format!("{{\"x\":1,\"sha\":\"{hash}\"}}")), None);
    }

    #[test]
    fn run_ids_are_sortable_and_unique() {
        let a = new_run_id("export");
        let b = new_run_id("export");
        assert_ne!(a, b);
        let (stamp, rest) = a.split_once("Z-").unwrap();
        assert_eq!(stamp.len(), "20261123T101502".len(), "{a}");
        assert_eq!(stamp.as_bytes()[8], b'T', "{a}");
        assert!(
            stamp
                .bytes()
                .enumerate()
                .all(|(i, c)| i == 8 || c.is_ascii_digit()),
            "{a}"
        );
        let (tool, hex) = rest.split_once('-').unwrap();
        assert_eq!(tool, "export");
        assert!(
            hex.len() == 8 && hex.bytes().all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
        assert!(!os_user().is_empty() && !hostname().is_empty());
    }

    #[test]
    fn append_creates_the_directory_and_read_returns_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("a/b/log.jsonl"));
        assert_eq!(log.path(), dir.path().join("a/b/log.jsonl"));
        assert!(log.read().unwrap().is_empty(), "no file yet: no events");
        let first = log
            .append(Event {
                status: "started".into(),
                ..Event::default()
            })
            .unwrap();
        log.append(Event {
            status: "completed".into(),
            ..Event::default()
        })
        .unwrap();
        let entries = log.read().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].line, entries[1].line), (1, 2));
        assert_eq!(entries[0].sha256, sha256_hex(first.as_bytes()));
        assert_eq!(entries[1].event.prev_sha256, entries[0].sha256);
        assert_eq!(entries[0].event.prev_sha256, GENESIS);
        assert_eq!(entries[1].event.status, "completed");

        // An empty line in the middle is an insertion; one at the very end is not.
        let text = fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        fs::write(log.path(), format!("{}\n\n{}\n", lines[0], lines[1])).unwrap();
        assert_eq!(
            log.verify().unwrap_err().to_string(),
            format!(
                "audit log {}: line 2: empty line inserted",
                log.path().display()
            )
        );
        assert_eq!(log.read().unwrap().len(), 2, "read skips empty lines");
        fs::write(log.path(), format!("{}\nnot json\n", lines[0])).unwrap();
        assert!(
            log.read()
                .unwrap_err()
                .to_string()
                .contains("line 2: not an audit event")
        );
        // The first line missing: the log does not begin with its first event.
        fs::write(log.path(), format!("{}\n", lines[1])).unwrap();
        assert!(
            log.verify()
                .unwrap_err()
                .to_string()
                .ends_with("line 1: chain broken, the log does not begin with its first event: lines were removed from the start")
        );
        // A directory where the log should be is an error, not an empty log.
        assert!(AuditLog::new(dir.path()).read().is_err());
    }

    #[test]
    fn a_run_fills_in_its_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let run = Run::new(AuditLog::new(&path), "import");
        run.set_source("u@h:1/s".into());
        run.set_target("u@h:2/t".into());
        run.set_dump_dir(Path::new("/dumps/x"));
        run.set_manifest_sha256("ab".repeat(32));
        run.set_parent_run_id(Some("parent-1".into()));
        let e = run.event("in_progress", "a table");
        assert!(e.ts.ends_with('Z') && e.ts.len() >= 20, "{}", e.ts);
        assert_eq!(
            (e.status.as_str(), e.message.as_str(), e.tool.as_str()),
            ("in_progress", "a table", "import")
        );
        assert_eq!(e.source.as_deref(), Some("u@h:1/s"));
        assert_eq!(e.target.as_deref(), Some("u@h:2/t"));
        assert_eq!(e.dump_dir.as_deref(), Some("/dumps/x"));
        assert_eq!(e.manifest_sha256, Some("ab".repeat(32)));
        assert_eq!(e.parent_run_id.as_deref(), Some("parent-1"));
        assert!(e.run_id.contains("Z-import-"));
        assert_eq!(
            (e.os_user.clone(), e.hostname.clone()),
            (os_user(), hostname())
        );
        run.write(e.clone()).unwrap();
        run.write_or_warn(run.event("completed", "done"));
        let back = AuditLog::new(&path).read().unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            back[0].event,
            Event {
                prev_sha256: GENESIS.into(),
                ..e
            }
        );
        assert_eq!(back[1].event.status, "completed");
        // An empty parent run id is no parent.
        run.set_parent_run_id(Some(String::new()));
        assert_eq!(run.event("failed", "x").parent_run_id, None);
        // A log that cannot be written is an error for write, a warning for write_or_warn.
        let blocked = Run::new(AuditLog::new(dir.path()), "export");
        assert!(blocked.write(blocked.event("started", "x")).is_err());
        blocked.write_or_warn(blocked.event("started", "x"));
    }
}
