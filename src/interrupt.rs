//! Stop signals: SIGINT (Ctrl-C), SIGTERM (what `timeout`, systemd and Kubernetes send)
//! and SIGHUP (a closed terminal or SSH session) are all handled the same way. The first
//! one asks the running export or import to stop at the next row or buffer, so it can
//! remove its unfinished files, roll back and write its `failed` audit event; hooks let a
//! blocked database call be cancelled too. A second signal exits at once. The exit code
//! tells which signal it was, as a shell would: 128 + its number (130, 143, 129).
//!
//! signal-hook (not ctrlc) because the exit code and the messages need to know which
//! signal arrived. Its iterator runs the handling on an ordinary thread, so the hooks may
//! lock, allocate and talk to a database.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::error::{Error, Result};

/// The signals that stop a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Int,
    /// `kill`, `timeout`, systemd, Kubernetes.
    Term,
    /// The terminal or SSH session went away.
    Hup,
}

impl Signal {
    fn from_number(n: i32) -> Option<Signal> {
        match n {
            SIGINT => Some(Signal::Int),
            SIGTERM => Some(Signal::Term),
            SIGHUP => Some(Signal::Hup),
            _ => None,
        }
    }

    fn number(self) -> i32 {
        match self {
            Signal::Int => SIGINT,
            Signal::Term => SIGTERM,
            Signal::Hup => SIGHUP,
        }
    }

    /// 128 + the signal number, as shells report a process a signal ended: 130 for
    /// SIGINT, 143 for SIGTERM, 129 for SIGHUP.
    pub fn exit_code(self) -> u8 {
        128 + self.number() as u8
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
        })
    }
}

/// The number of the first stop signal received, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

type Hook = Box<dyn Fn() + Send>;
static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Installs the handler (once per process; later calls are no-ops). If the handler
/// cannot be installed the signals keep their default action (they end the process).
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("waybill-signals".into())
            .spawn(move || {
                for n in signals.forever() {
                    let Some(signal) = Signal::from_number(n) else {
                        continue;
                    };
                    received(signal);
                }
            });
    });
}

fn received(signal: Signal) {
    if RECEIVED
        .compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        let _ = writeln!(std::io::stderr(), "\n{signal} again: exiting now");
        std::process::exit(i32::from(signal.exit_code()));
    }
    // Not eprintln!, which panics when the terminal is gone (SIGHUP).
    let _ = writeln!(
        std::io::stderr(),
        "\n{signal} received: stopping cleanly (send it again{} to exit at once)",
        if signal == Signal::Int {
            ", or press Ctrl-C again,"
        } else {
            ""
        }
    );
    if let Ok(hooks) = HOOKS.lock() {
        for h in hooks.iter() {
            h();
        }
    }
}

/// Runs `hook` when a stop signal arrives (e.g. cancel the query in flight).
pub(crate) fn on_interrupt(hook: impl Fn() + Send + 'static) {
    if let Ok(mut hooks) = HOOKS.lock() {
        hooks.push(Box::new(hook));
    }
}

/// The first stop signal received, if any.
pub fn signal() -> Option<Signal> {
    Signal::from_number(RECEIVED.load(Ordering::Relaxed))
}

pub(crate) fn is_interrupted() -> bool {
    RECEIVED.load(Ordering::Relaxed) != 0
}

/// `Err(Error::Interrupted)` once a stop signal has arrived.
pub(crate) fn check() -> Result<()> {
    match signal() {
        Some(s) => Err(Error::Interrupted(s)),
        None => Ok(()),
    }
}

/// `e`, or `Error::Interrupted` when a stop signal has arrived: after a signal, a
/// cancelled statement or a stopped read is the signal's doing, not a failure of its own.
pub(crate) fn or_signal(e: Error) -> Error {
    match signal() {
        Some(s) => Error::Interrupted(s),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Signal::Int.exit_code(), 130);
        assert_eq!(Signal::Term.exit_code(), 143);
        assert_eq!(Signal::Hup.exit_code(), 129);
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
    }
}
