//! Ctrl-C. The first one asks the running export or import to stop at the next row or
//! buffer, so it can clean up, roll back and write its `failed` audit event; hooks let a
//! blocked database call be cancelled too. A second Ctrl-C exits at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

type Hook = Box<dyn Fn() + Send>;
static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Installs the handler (once per process; later calls are no-ops).
pub(crate) fn install() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting now");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping (press Ctrl-C again to exit at once)");
        if let Ok(hooks) = HOOKS.lock() {
            for h in hooks.iter() {
                h();
            }
        }
    });
}

/// Runs `hook` when an interrupt arrives (e.g. cancel the query in flight).
pub(crate) fn on_interrupt(hook: impl Fn() + Send + 'static) {
    if let Ok(mut hooks) = HOOKS.lock() {
        hooks.push(Box::new(hook));
    }
}

pub(crate) fn is_interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

pub(crate) fn check() -> Result<()> {
    if is_interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
