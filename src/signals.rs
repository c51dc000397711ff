//! Ctrl-C and SIGTERM (what Kubernetes and systemd send) both begin a graceful
//! stop: inputs close, stages drain, windows flush, outputs are delivered.
//! `canary run` then exits 128 + the signal's number (130, 143), as shells
//! report a process a signal ended, so a supervisor can tell a stopped
//! replay from a finished one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The number of the signal that stopped the process, 0 while none has.
static RECEIVED: AtomicU8 = AtomicU8::new(0);

const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;

/// A flag set once either signal arrives; `what` is logged when it does.
pub fn stop_on_signals(rt: &tokio::runtime::Runtime, what: &'static str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    rt.spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminate = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let signal = tokio::select! {
            _ = tokio::signal::ctrl_c() => SIGINT,
            _ = terminate => SIGTERM,
        };
        let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        tracing::warn!("stopping: {what}");
        s.store(true, Ordering::Relaxed);
    });
    stop
}

/// The exit code of a run a signal stopped: 128 + its number.
pub fn exit_code() -> Option<u8> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Some(128 + n),
    }
}
