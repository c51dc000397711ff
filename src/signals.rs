//! Ctrl-C and SIGTERM (what Kubernetes and systemd send) both begin a graceful
//! stop: inputs close, stages drain, windows flush, outputs are delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::warn!("stopping: {what}");
        s.store(true, Ordering::Relaxed);
    });
    stop
}
