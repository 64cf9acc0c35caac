//! Checks the automerge payload of each incoming sync message before samod
//! applies it. automerge rejects some damaged input with an error, and
//! panics on some checksum-valid damaged input (an automerge 0.12 bug in
//! its column decoder). Either way the message never reaches the shared
//! document: the transport closes the sender's connection, so one peer's
//! bad bytes cannot stall a document for everyone else.
//!
//! The check decodes every change (or whole document) in the message once,
//! off the async workers for large messages, so it roughly doubles the
//! relay's decoding work per change.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Why a sync message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

/// Checks `data`, the body of a `sync` or `request` message.
pub fn sync_payload(data: &[u8]) -> Result<(), Rejected> {
    let message = automerge::sync::Message::decode(data)
        .map_err(|e| Rejected(format!("not an automerge sync message: {e}")))?;
    // Each element may hold several chunks back to back (what
    // `load_incremental` accepts).
    for element in message.changes.iter() {
        for chunk in split_chunks(element)? {
            check_chunk(chunk)?;
        }
    }
    Ok(())
}

/// Splits concatenated automerge chunks: magic (4 bytes), checksum (4),
/// type (1), length (LEB128), then that many bytes.
fn split_chunks(mut bytes: &[u8]) -> Result<Vec<&[u8]>, Rejected> {
    let bad = |why: &str| Rejected(format!("a malformed change chunk: {why}"));
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 10 {
            return Err(bad("truncated header"));
        }
        let mut len: u64 = 0;
        let mut at = 9;
        let mut shift = 0;
        loop {
            let byte = *bytes.get(at).ok_or_else(|| bad("truncated length"))?;
            if shift > 56 {
                return Err(bad("length too long"));
            }
            len |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            at += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| at.checked_add(l))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad("length past the end"))?;
        out.push(&bytes[..end]);
        bytes = &bytes[end..];
    }
    Ok(out)
}

/// Chunk type byte of automerge's storage format: after the 4-byte magic
/// and the 4-byte checksum.
const DOCUMENT_CHUNK: u8 = 0;

fn check_chunk(chunk: &[u8]) -> Result<(), Rejected> {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        if chunk.get(8) == Some(&DOCUMENT_CHUNK) {
            automerge::Automerge::load(chunk)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            let change =
                automerge::Change::from_bytes(chunk.to_vec()).map_err(|e| e.to_string())?;
            // Decoding every operation is where damaged columns show.
            let _ = change.decode();
            Ok(())
        }
    }));
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Rejected(format!("automerge rejected a change: {e}"))),
        Err(_) => Err(Rejected("automerge panicked decoding a change".into())),
    }
}

#[cfg(test)]
mod tests {
    use automerge::sync::SyncDoc as _;
    use automerge::{AutoCommit, ROOT, transaction::Transactable as _};

    use super::*;

    fn message_with_changes() -> Vec<u8> {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "k", "v").unwrap();
        doc.commit();
        let mut state = automerge::sync::State::new();
        // First message: heads only. Pretend the peer has nothing, then the
        // second carries the change.
        let _ = doc.sync().generate_sync_message(&mut state);
        let empty = AutoCommit::new();
        let mut their = automerge::sync::State::new();
        let reply = empty
            .clone()
            .sync()
            .generate_sync_message(&mut their)
            .unwrap();
        doc.sync().receive_sync_message(&mut state, reply).unwrap();
        doc.sync()
            .generate_sync_message(&mut state)
            .unwrap()
            .encode()
    }

    #[test]
    fn good_messages_pass() {
        assert_eq!(sync_payload(&message_with_changes()), Ok(()));
    }

    #[test]
    fn concatenated_changes_are_each_checked() {
        let mut doc = AutoCommit::new();
        let mut both = Vec::new();
        for v in ["a", "b"] {
            doc.put(ROOT, "k", v).unwrap();
            doc.commit();
            let heads = doc.get_heads();
            let change = doc.get_change_by_hash(&heads[0]).unwrap();
            both.extend_from_slice(change.raw_bytes());
        }
        assert_eq!(split_chunks(&both).unwrap().len(), 2);
        for chunk in split_chunks(&both).unwrap() {
            assert_eq!(check_chunk(chunk), Ok(()));
        }
        assert!(split_chunks(&both[..both.len() - 1]).is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(sync_payload(b"not a sync message").is_err());
        assert!(sync_payload(&[]).is_err());
    }
}
