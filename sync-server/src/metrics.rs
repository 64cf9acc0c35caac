//! Counters, exposed at `GET /metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub auth_failures: AtomicU64,
    pub forbidden: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub oversized_messages: AtomicU64,
    pub docs_registered: AtomicU64,
    pub documents_open: AtomicU64,
    /// Unreadable chunks moved to quarantine when the relay started.
    pub corrupt_chunks: AtomicU64,
    /// Panics while processing a document (that document stops).
    pub document_panics: AtomicU64,
    /// Sync messages automerge rejected or panicked on, before samod saw
    /// them (the sender was disconnected).
    pub rejected_sync_messages: AtomicU64,
    /// Team repos restarted after a document panicked.
    pub team_restarts: AtomicU64,
    /// Changes found to panic a document, refused from then on.
    pub poisoned_changes: AtomicU64,
    /// Document writes that failed (their changes were not acknowledged).
    pub storage_errors: AtomicU64,
    /// Connections closed because a write they waited on failed or took
    /// too long.
    pub unacknowledged_closes: AtomicU64,
}

/// Counts samod's events: sync messages and their bytes, documents loaded
/// (relay-wide, and per team in `open`).
pub struct Observer {
    pub metrics: std::sync::Arc<Metrics>,
    pub open: std::sync::Arc<AtomicU64>,
    /// Called when applying a sync message panicked (samod-core, patched,
    /// rolled the document back and closes the sender's connection).
    pub on_panic: std::sync::Arc<dyn Fn() + Send + Sync>,
}

fn dec(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(1))
    });
}

impl samod::RepoObserver for Observer {
    fn observe(&self, event: &samod::RepoEvent) {
        let m = &self.metrics;
        match event {
            samod::RepoEvent::SyncMessageReceived {
                bytes, duration, ..
            } => {
                Metrics::inc(&m.messages_in);
                Metrics::add(&m.bytes_in, *bytes as u64);
                if *duration == samod_core::PANICKED {
                    Metrics::inc(&m.document_panics);
                    (self.on_panic)();
                }
            }
            samod::RepoEvent::SyncMessageGenerated { bytes, .. } => {
                Metrics::inc(&m.messages_out);
                Metrics::add(&m.bytes_out, *bytes as u64);
            }
            samod::RepoEvent::DocumentOpened { .. } => {
                Metrics::inc(&m.documents_open);
                Metrics::inc(&self.open);
            }
            samod::RepoEvent::DocumentClosed { .. } => {
                dec(&m.documents_open);
                dec(&self.open);
            }
            _ => {}
        }
    }
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `documents_loaded` is read from the
    /// repo when the page is rendered.
    pub fn render(
        &self,
        documents_loaded: usize,
        teams_loaded: usize,
        teams: usize,
        documents_registered: usize,
    ) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(s, "# HELP rapport_relay_{name} {help}");
            let _ = writeln!(s, "# TYPE rapport_relay_{name} {kind}");
            let _ = writeln!(s, "rapport_relay_{name} {value}");
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        metric(
            "connections_open",
            "gauge",
            "Sync connections open now.",
            get(&self.connections_open),
        );
        metric(
            "connections_total",
            "counter",
            "Sync connections accepted.",
            get(&self.connections_total),
        );
        metric(
            "connections_refused_total",
            "counter",
            "Connections refused by the connection limit.",
            get(&self.connections_refused),
        );
        metric(
            "auth_failures_total",
            "counter",
            "Requests with no token or an unknown token.",
            get(&self.auth_failures),
        );
        metric(
            "forbidden_total",
            "counter",
            "Requests by a member for another team's data.",
            get(&self.forbidden),
        );
        metric(
            "sync_messages_in_total",
            "counter",
            "Sync messages received.",
            get(&self.messages_in),
        );
        metric(
            "sync_messages_out_total",
            "counter",
            "Sync messages sent.",
            get(&self.messages_out),
        );
        metric(
            "sync_bytes_in_total",
            "counter",
            "Bytes of sync messages received.",
            get(&self.bytes_in),
        );
        metric(
            "sync_bytes_out_total",
            "counter",
            "Bytes of sync messages sent.",
            get(&self.bytes_out),
        );
        metric(
            "oversized_messages_total",
            "counter",
            "Messages refused for exceeding the size limit.",
            get(&self.oversized_messages),
        );
        metric(
            "document_panics_total",
            "counter",
            "Panics on the document threads: a sync message that panicked is rolled back and its sender disconnected; a panic elsewhere in a document restarts its team's repo from disk.",
            get(&self.document_panics),
        );
        metric(
            "rejected_sync_messages_total",
            "counter",
            "Sync messages automerge rejected or panicked on; the sender was disconnected.",
            get(&self.rejected_sync_messages),
        );
        metric(
            "team_restarts_total",
            "counter",
            "Team repos restarted from disk after one of their documents panicked.",
            get(&self.team_restarts),
        );
        metric(
            "poisoned_changes_total",
            "counter",
            "Changes found to panic a document after a restart; their team refuses them from then on.",
            get(&self.poisoned_changes),
        );
        metric(
            "storage_errors_total",
            "counter",
            "Document writes that failed; those changes were not acknowledged to anyone.",
            get(&self.storage_errors),
        );
        metric(
            "unacknowledged_closes_total",
            "counter",
            "Connections closed because the changes a reply announced were not on disk in time.",
            get(&self.unacknowledged_closes),
        );
        metric(
            "corrupt_chunks_quarantined",
            "gauge",
            "Unreadable chunks moved to quarantine at startup.",
            get(&self.corrupt_chunks),
        );
        metric(
            "documents_registered_total",
            "counter",
            "Documents registered since start.",
            get(&self.docs_registered),
        );
        metric(
            "documents_loaded",
            "gauge",
            "Documents the relay holds in memory.",
            documents_loaded as u64,
        );
        metric(
            "documents_registered",
            "gauge",
            "Documents registered to a team.",
            documents_registered as u64,
        );
        metric("teams", "gauge", "Teams.", teams as u64);
        metric(
            "teams_loaded",
            "gauge",
            "Teams whose documents are in memory (members connected recently).",
            teams_loaded as u64,
        );
        s
    }
}
