//! Checks the automerge payload of each incoming sync message before samod
//! applies it. automerge rejects some damaged input with an error, and
//! panics on some checksum-valid damaged input (an automerge 0.12 bug in
//! its column decoder). Either way the message never reaches the shared
//! document: the transport closes the sender's connection, so one peer's
//! bad bytes cannot stall a document for everyone else.
//!
//! A change must also be automerge's own encoding of its operations (see
//! `check_chunk`): automerge 0.12 accepts some non-canonical changes, then
//! sends and stores them re-encoded under another hash, which stops the
//! document syncing for everyone.
//!
//! The check decodes every change (or whole document) in the message once
//! and encodes each change again, off the async workers for large
//! messages, so it roughly triples the relay's decoding work per change.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Why a sync message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

/// Checks `data`, the body of a `sync` or `request` message.
pub fn sync_payload(data: &[u8]) -> Result<(), Rejected> {
    checked_changes(data).map(|_| ())
}

/// [`sync_payload`], returning the hashes of the changes the message
/// carries (whole documents in it have none listed).
pub fn checked_changes(data: &[u8]) -> Result<Vec<automerge::ChangeHash>, Rejected> {
    let message = automerge::sync::Message::decode(data)
        .map_err(|e| Rejected(format!("not an automerge sync message: {e}")))?;
    let mut hashes = Vec::new();
    // Each element may hold several chunks back to back (what
    // `load_incremental` accepts).
    for element in message.changes.iter() {
        for chunk in split_chunks(element)? {
            hashes.extend(check_chunk(chunk)?);
        }
    }
    Ok(hashes)
}

/// Splits concatenated automerge chunks: magic (4 bytes), checksum (4),
/// type (1), length (LEB128), then that many bytes.
pub(crate) fn split_chunks(mut bytes: &[u8]) -> Result<Vec<&[u8]>, Rejected> {
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
pub(crate) const DOCUMENT_CHUNK: u8 = 0;

/// Checks one chunk; a change's hash, or none for a whole document.
fn check_chunk(chunk: &[u8]) -> Result<Option<automerge::ChangeHash>, Rejected> {
    let result = catch_unwind(AssertUnwindSafe(
        || -> Result<Option<automerge::ChangeHash>, String> {
            if chunk.get(8) == Some(&DOCUMENT_CHUNK) {
                automerge::Automerge::load(chunk)
                    .map(|_| None)
                    .map_err(|e| e.to_string())
            } else {
                let change =
                    automerge::Change::from_bytes(chunk.to_vec()).map_err(|e| e.to_string())?;
                // Decoding every operation is where damaged columns show.
                let decoded = change.decode();
                // automerge keeps no change's bytes: it encodes a change again
                // from its operations whenever it sends or stores it, and the
                // change graph keeps the hash of the bytes that arrived. A
                // change whose bytes are not automerge's own encoding of its
                // operations (a value column with bytes no value uses, say)
                // decodes, applies, and then goes out under another hash: the
                // relay announces heads nobody can fetch, and a teammate's next
                // change depends on a hash the relay never has, so the document
                // stops syncing. Automerge's encoding of the decoded change
                // must hash to the change's own hash.
                if automerge::Change::from(decoded).hash() != change.hash() {
                    return Err(format!(
                        "change {} is not automerge's encoding of its own operations",
                        change.hash()
                    ));
                }
                Ok(Some(change.hash()))
            }
        },
    ));
    match result {
        Ok(Ok(hash)) => Ok(hash),
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
            assert!(check_chunk(chunk).is_ok());
        }
        assert!(split_chunks(&both[..both.len() - 1]).is_err());
    }

    /// Changes of every kind automerge makes, from two actors, from a
    /// live and from a loaded document: each is its own encoding.
    #[test]
    fn real_changes_are_their_own_encoding() {
        use automerge::marks::{ExpandMark, Mark};
        use automerge::{ObjType, ReadDoc as _, ScalarValue};
        let mut a = AutoCommit::new();
        let list = a.put_object(ROOT, "list", ObjType::List).unwrap();
        let text = a.put_object(ROOT, "text", ObjType::Text).unwrap();
        let map = a.put_object(ROOT, "map", ObjType::Map).unwrap();
        a.put(ROOT, "c", ScalarValue::counter(0)).unwrap();
        a.commit();
        let mut b = a.fork();
        for i in 0..40u32 {
            let doc = if i % 3 == 0 { &mut b } else { &mut a };
            doc.insert(&list, 0, i64::from(i)).unwrap();
            doc.splice_text(&text, 0, 0, "héllo wörld 🙂").unwrap();
            if i % 4 == 1 {
                doc.delete(&list, 0).unwrap();
                doc.splice_text(&text, 2, 3, "").unwrap();
                doc.mark(
                    &text,
                    Mark::new("bold".into(), true, 1, 4),
                    ExpandMark::After,
                )
                .unwrap();
            }
            doc.put(&map, format!("k{}", i % 5), f64::from(i) / 3.0)
                .unwrap();
            doc.put(&map, "bytes", vec![1u8, 2, 3]).unwrap();
            doc.increment(ROOT, "c", 2).unwrap();
            if i % 5 == 2 {
                doc.delete(&map, "bytes").unwrap();
                let o = doc.put_object(&map, "nested", ObjType::Map).unwrap();
                doc.put(&o, "x", ScalarValue::Timestamp(-5)).unwrap();
            }
            doc.commit_with(
                automerge::transaction::CommitOptions::default()
                    .with_message(format!("edit {i}"))
                    .with_time(i64::from(i) * 1000),
            );
            if i % 7 == 6 {
                a.merge(&mut b).unwrap();
                b.merge(&mut a).unwrap();
            }
        }
        a.merge(&mut b).unwrap();
        assert!(a.length(&text) > 0);
        let loaded = AutoCommit::load(&a.save()).unwrap();
        let mut changes = 0;
        for mut doc in [a, loaded] {
            for change in doc.get_changes(&[]) {
                assert_eq!(check_chunk(change.raw_bytes()), Ok(Some(change.hash())));
                changes += 1;
            }
        }
        assert!(changes > 80);
    }

    /// automerge accepts a change whose value column holds bytes no value
    /// uses, and sends it on re-encoded under another hash (known_bug.rs,
    /// bug 3).
    #[test]
    fn a_change_that_is_not_its_own_encoding_is_rejected() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "k", "first").unwrap();
        doc.commit();
        let heads = doc.get_heads();
        let mut bytes = doc
            .get_change_by_hash(&heads[0])
            .unwrap()
            .raw_bytes()
            .to_vec();
        assert!(check_chunk(&bytes).is_ok());
        // The value metadata of a 5-byte string (0x56) says 1 byte (0x16).
        let at = bytes.windows(2).position(|w| w == [0x7f, 0x56]).unwrap() + 1;
        bytes[at] = 0x16;
        let sum = {
            use sha2::Digest as _;
            sha2::Sha256::digest(&bytes[8..])
        };
        bytes[4..8].copy_from_slice(&sum[..4]);
        let change = automerge::Change::from_bytes(bytes.clone()).expect("it decodes");
        let _ = change.decode();
        assert!(check_chunk(&bytes).is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(sync_payload(b"not a sync message").is_err());
        assert!(sync_payload(&[]).is_err());
    }
}
