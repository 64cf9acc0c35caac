//! The automerge-repo protocol messages a one-shot client needs: CBOR maps
//! with a `type` (see `docs/protocol.md`). Messages of other types decode
//! as [`Incoming::Other`] and are ignored.

use ciborium::Value;

/// A message from the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The handshake answer; `sender` is the relay's peer id.
    Peer { sender: String },
    /// A sync message (`sync`, or `request` when the sender lacks the document).
    Sync {
        doc: String,
        data: Vec<u8>,
        request: bool,
    },
    /// The sender does not have the document or will not share it.
    Unavailable { doc: String },
    /// A protocol error; the sender closes the connection after it.
    Error { message: String },
    /// Any other message (ephemeral, remote heads, …).
    Other,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn encode(map: Vec<(&str, Value)>) -> Vec<u8> {
    let value = Value::Map(map.into_iter().map(|(k, v)| (text(k), v)).collect());
    let mut out = Vec::new();
    // Writing a Value into a Vec cannot fail.
    ciborium::into_writer(&value, &mut out).unwrap_or_default();
    out
}

/// The first message: who we are and the protocol version we speak.
/// `peerMetadata` says we keep no storage between sessions (ephemeral):
/// automerge-repo's JS server reads it, samod accepts it.
pub fn join(sender: &str) -> Vec<u8> {
    encode(vec![
        ("type", text("join")),
        ("senderId", text(sender)),
        ("supportedProtocolVersions", Value::Array(vec![text("1")])),
        (
            "peerMetadata",
            Value::Map(vec![(text("isEphemeral"), Value::Bool(true))]),
        ),
    ])
}

/// A sync message about `doc` (bare bs58check id). `request` asks the
/// relay for a document we do not have yet.
pub fn sync(sender: &str, target: &str, doc: &str, data: Vec<u8>, request: bool) -> Vec<u8> {
    encode(vec![
        ("type", text(if request { "request" } else { "sync" })),
        ("documentId", text(doc)),
        ("senderId", text(sender)),
        ("targetId", text(target)),
        ("data", Value::Bytes(data)),
    ])
}

/// Tells the relay we do not have `doc` (the answer to its `request`).
pub fn unavailable(sender: &str, target: &str, doc: &str) -> Vec<u8> {
    encode(vec![
        ("type", text("doc-unavailable")),
        ("documentId", text(doc)),
        ("senderId", text(sender)),
        ("targetId", text(target)),
    ])
}

/// Decodes one frame. An error means the relay broke the protocol.
pub fn decode(frame: &[u8]) -> Result<Incoming, String> {
    let value: Value =
        ciborium::from_reader(frame).map_err(|e| format!("a frame is not CBOR: {e}"))?;
    let Value::Map(entries) = value else {
        return Err("a frame is not a CBOR map".into());
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    };
    let string = |name: &str| -> Result<String, String> {
        field(name)
            .and_then(Value::as_text)
            .map(str::to_string)
            .ok_or_else(|| format!("a message lacks its '{name}'"))
    };
    let kind = string("type")?;
    Ok(match kind.as_str() {
        "peer" => Incoming::Peer {
            sender: string("senderId")?,
        },
        "sync" | "request" => Incoming::Sync {
            doc: string("documentId")?,
            data: field("data")
                .and_then(Value::as_bytes)
                .cloned()
                .ok_or("a sync message lacks its 'data'")?,
            request: kind == "request",
        },
        "doc-unavailable" => Incoming::Unavailable {
            doc: string("documentId")?,
        },
        "error" => Incoming::Error {
            message: string("message").unwrap_or_else(|_| "(no message)".into()),
        },
        _ => Incoming::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_round_trips() {
        let bytes = sync("me", "relay", "abc", vec![1, 2, 3], true);
        assert_eq!(
            decode(&bytes).unwrap(),
            Incoming::Sync {
                doc: "abc".into(),
                data: vec![1, 2, 3],
                request: true
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[0xff, 0x00]).is_err());
        assert!(decode(&join("x")[..3]).is_err());
        // A map without a type.
        let mut out = Vec::new();
        ciborium::into_writer(&Value::Map(vec![]), &mut out).unwrap();
        assert!(decode(&out).is_err());
    }

    #[test]
    fn unknown_types_are_other() {
        let bytes = encode(vec![("type", text("ephemeral"))]);
        assert_eq!(decode(&bytes).unwrap(), Incoming::Other);
    }
}
