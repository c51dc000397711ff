//! The process's metrics registry, the small I/O runtime beside the stage
//! threads, and the `/metrics` endpoint.

use crate::cli::usage;
use anyhow::Result;

/// The small I/O runtime beside the stage threads (metrics endpoint, sinks,
/// signals) and the metrics registry.
pub fn io_runtime() -> Result<(tokio::runtime::Runtime, canary_telemetry::Metrics)> {
    let metrics = canary_telemetry::Metrics::new()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("canary-io")
        .enable_all()
        .build()?;
    Ok((rt, metrics))
}

/// Serves `/metrics` at `addr` unless it is `off`. Metrics name every watch,
/// so an address other than loopback is worth a warning: it serves them to
/// every network the host is on.
pub fn serve(
    rt: &tokio::runtime::Runtime,
    addr: &str,
    metrics: &canary_telemetry::Metrics,
) -> Result<Option<canary_telemetry::MetricsServer>> {
    if addr == "off" {
        return Ok(None);
    }
    let s = rt
        .block_on(canary_telemetry::serve(addr, metrics.clone()))
        .map_err(usage)?;
    tracing::info!(addr = %s.addr, "serving metrics at /metrics");
    if !s.addr.ip().is_loopback() {
        tracing::warn!(addr = %s.addr,
            "metrics are served on a non-loopback address: anyone who can reach it can read them");
    }
    Ok(Some(s))
}
