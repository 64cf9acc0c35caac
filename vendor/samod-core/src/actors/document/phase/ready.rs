use std::time::Duration;

use automerge::{Automerge, sync};

use crate::{
    UnixTimestamp,
    actors::{document::peer_doc_connection::PeerDocConnection, messages::SyncMessage},
};

#[derive(Debug)]
pub(crate) struct Ready;

/// PATCHED (rapport): what became of a sync message.
pub(crate) enum Received {
    /// Applied (with how long it took), or refused without harm.
    Applied(Option<Duration>),
    /// Applying it panicked; the document is as it was before it.
    Panicked,
}

impl Ready {
    pub(crate) fn new() -> Self {
        Self
    }

    pub(crate) fn receive_sync_message(
        &mut self,
        now: UnixTimestamp,
        doc: &mut Automerge,
        conn: &mut PeerDocConnection,
        msg: SyncMessage,
    ) -> Received {
        match msg {
            SyncMessage::Request { data } | SyncMessage::Sync { data } => {
                let msg = match sync::Message::decode(&data) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(err=?e, conn_id=?conn.connection_id, "failed to decode sync message");
                        return Received::Applied(None);
                    }
                };
                // PATCHED (rapport): automerge can panic applying a change
                // that decodes (a hostile or corrupt peer). The document is
                // then copied first, the message applied under a panic
                // guard, and on a panic the copy is put back: the caller
                // closes that connection, and the document carries on.
                let backup = (!msg.changes.is_empty()).then(|| doc.clone());
                let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    conn.receive_sync_message(now, doc, msg)
                }));
                match applied {
                    Ok(Ok(duration)) => Received::Applied(Some(duration)),
                    Ok(Err(e)) => {
                        tracing::warn!(conn_id=?conn.connection_id, err=?e, "failed to process sync message");
                        Received::Applied(None)
                    }
                    Err(_) => {
                        if let Some(backup) = backup {
                            *doc = backup;
                        }
                        Received::Panicked
                    }
                }
            }
            SyncMessage::DocUnavailable => {
                tracing::debug!("received doc-unavailable message whilst we have a doc");
                Received::Applied(None)
            }
        }
    }

    pub(crate) fn generate_sync_messages(
        &mut self,
        now: UnixTimestamp,
        doc: &mut Automerge,
        conn: &mut PeerDocConnection,
    ) -> Vec<(SyncMessage, Duration)> {
        if !conn.can_send() {
            return Vec::new();
        }
        conn.generate_sync_messages(now, doc)
            .into_iter()
            .map(|(msg, duration)| (SyncMessage::Sync { data: msg.encode() }, duration))
            .collect()
    }
}
