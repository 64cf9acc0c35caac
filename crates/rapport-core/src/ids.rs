//! Identifiers: record ids inside a document, and automerge-repo document ids.

use crate::Error;

/// The random key of a record inside a document: 16 lowercase hex digits
/// (64 random bits). Users may type any unique prefix of it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RecordId(String);

impl RecordId {
    /// A fresh random id.
    pub fn random() -> RecordId {
        let mut bytes = [0u8; 8];
        fill_random(&mut bytes);
        RecordId(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 digits, as shown in tables.
    pub fn short(&self) -> &str {
        short(&self.0)
    }
}

/// The first 8 digits of a record id, as shown in tables.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl From<String> for RecordId {
    /// Ids written by other clients are taken as they are: any string key is
    /// a record id.
    fn from(s: String) -> Self {
        RecordId(s)
    }
}

impl AsRef<str> for RecordId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by record id are looked up by `&str` (a record read in
/// place from a view's bytes); `RecordId` orders and hashes as its string.
impl std::borrow::Borrow<str> for RecordId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl autosurgeon::Reconcile for RecordId {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        r.str(&self.0)
    }
}

impl autosurgeon::Hydrate for RecordId {
    fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
        Ok(RecordId(s.to_string()))
    }
    fn hydrate_text<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        Ok(RecordId(doc.text(obj)?))
    }
}

/// An automerge-repo document id: 16 random bytes, written in bs58check and
/// shown as `automerge:<bs58check>` (the form automerge-repo URLs use).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId([u8; 16]);

impl DocId {
    pub fn random() -> DocId {
        let mut bytes = [0u8; 16];
        fill_random(&mut bytes);
        DocId(bytes)
    }

    pub fn from_bytes(bytes: [u8; 16]) -> DocId {
        DocId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The bare bs58check form, as used for storage keys.
    pub fn to_bs58(&self) -> String {
        bs58::encode(self.0).with_check().into_string()
    }

    /// The `automerge:` URL form.
    pub fn to_url(&self) -> String {
        format!("automerge:{}", self.to_bs58())
    }
}

impl std::str::FromStr for DocId {
    type Err = Error;
    /// Accepts `automerge:<bs58check>` or the bare bs58check form.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bare = s.trim().strip_prefix("automerge:").unwrap_or(s.trim());
        let invalid = || Error::InvalidValue {
            field: "document id".into(),
            value: s.to_string(),
            allowed: "automerge:<bs58check of 16 bytes>".into(),
        };
        let bytes = bs58::decode(bare)
            .with_check(None)
            .into_vec()
            .map_err(|_| invalid())?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| invalid())?;
        Ok(DocId(bytes))
    }
}

impl std::fmt::Display for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_url())
    }
}

impl std::fmt::Debug for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DocId({})", self.to_bs58())
    }
}

impl serde::Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_url())
    }
}

impl<'de> serde::Deserialize<'de> for DocId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn fill_random(bytes: &mut [u8]) {
    // The OS random source failing is not recoverable for id generation, and
    // does not happen on the platforms we support.
    #[allow(clippy::expect_used)]
    getrandom::fill(bytes).expect("the operating system's random source failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip_through_both_forms() {
        let id = DocId::random();
        assert_eq!(id.to_url().parse::<DocId>().unwrap(), id);
        assert_eq!(id.to_bs58().parse::<DocId>().unwrap(), id);
        assert!(id.to_url().starts_with("automerge:"));
    }

    #[test]
    fn doc_id_matches_automerge_repo_encoding() {
        // bs58check (double-SHA256 checksum) of 16 zero bytes, as
        // automerge-repo's `binaryToDocumentId` produces it.
        let id = DocId::from_bytes([0; 16]);
        let decoded = bs58::decode(id.to_bs58()).into_vec().unwrap();
        assert_eq!(decoded.len(), 20, "16 bytes and a 4-byte checksum");
        assert_eq!(&decoded[..16], &[0u8; 16]);
    }

    #[test]
    fn bad_doc_ids_are_rejected() {
        assert!("automerge:nope".parse::<DocId>().is_err());
        let mut s = DocId::random().to_bs58();
        s.pop();
        assert!(s.parse::<DocId>().is_err(), "checksum must be verified");
    }

    #[test]
    fn record_ids_are_random_hex() {
        let a = RecordId::random();
        let b = RecordId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.short().len(), 8);
    }
}
