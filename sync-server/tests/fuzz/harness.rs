//! The relay in process on 127.0.0.1:0, its teams, and the two
//! well-behaved teammates whose edits must keep getting through.

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash, ROOT, ReadDoc, transaction::Transactable};
use rapport_relay::teams::Registry;
use samod::{DocHandle, DocumentId};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Long enough for a debug build on a loaded two-core machine.
pub const WAIT: Duration = Duration::from_secs(20);

pub use crate::common::Relay;

/// acme: sam and jo (well-behaved), mallory (hostile, read-write), ro
/// (read-only); beta: eve.
pub struct Tokens {
    pub sam: String,
    pub jo: String,
    pub mallory: String,
    pub ro: String,
    pub eve: String,
}

pub fn setup(dir: &Path) -> Tokens {
    Registry::update(dir, |r| {
        r.add_team("acme")?;
        r.add_team("beta")?;
        Ok(Tokens {
            sam: r.add_member("acme", "sam", false)?,
            jo: r.add_member("acme", "jo", false)?,
            mallory: r.add_member("acme", "mallory", false)?,
            ro: r.add_member("acme", "ro", true)?,
            eve: r.add_member("beta", "eve", false)?,
        })
    })
    .unwrap()
    .1
}

pub use crate::common::Client;

pub async fn client(relay: &Relay, peer: &str, token: &str) -> Client {
    crate::common::client_with(relay, peer, token, None).await
}

pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A plain HTTP/1.1 request; returns the status and body.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: relay\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    within("an HTTP answer", s.read_to_end(&mut buf))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

pub async fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

pub fn put(doc: &DocHandle, key: &str, value: &str) {
    doc.with_document(|d| {
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, key, value)?;
            Ok(())
        })
        .unwrap();
    });
}

pub fn get(doc: &DocHandle, key: &str) -> Option<String> {
    doc.with_document(|d| {
        d.get(ROOT, key)
            .unwrap()
            .and_then(|(v, _)| v.into_string().ok())
    })
}

/// Every value `key` holds, conflicts included.
pub fn get_all(doc: &DocHandle, key: &str) -> Vec<String> {
    doc.with_document(|d| {
        d.get_all(ROOT, key)
            .unwrap()
            .into_iter()
            .filter_map(|(v, _)| v.into_string().ok())
            .collect()
    })
}

pub fn heads(doc: &DocHandle) -> Vec<ChangeHash> {
    doc.with_document(|d| d.get_heads())
}

/// A probe key survives any one- or two-byte change as no other probe key.
pub fn probe_key(round: u64) -> String {
    format!("p{round}.{round}.{round}")
}

pub fn probe_value(round: u64) -> String {
    format!(
        "round {round} from {}",
        if round.is_multiple_of(2) { "sam" } else { "jo" }
    )
}

/// One transaction of the seed document.
type Step =
    dyn Fn(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>;

/// The shared document's first content: one change per kind of object, so
/// mutated changes exercise every column type.
pub fn seed_document() -> Automerge {
    // A fixed actor and time, so the document's bytes, and every input made
    // from them, are the same on every run.
    let mut doc = Automerge::new().with_actor(automerge::ActorId::from(&[0x5a; 16][..]));
    let steps: [&Step; 5] = [
        &|tx| tx.put(ROOT, "k", "first"),
        &|tx| {
            let list = tx.put_object(ROOT, "tags", automerge::ObjType::List)?;
            for (i, t) in ["a", "bb", "ccc"].iter().enumerate() {
                tx.insert(&list, i, *t)?;
            }
            Ok(())
        },
        &|tx| {
            let text = tx.put_object(ROOT, "notes", automerge::ObjType::Text)?;
            tx.splice_text(&text, 0, 0, "met at the summit")
        },
        &|tx| {
            let map = tx.put_object(ROOT, "person", automerge::ObjType::Map)?;
            tx.put(&map, "name", "Ana Silva")?;
            tx.put(&map, "score", automerge::ScalarValue::counter(42))?;
            tx.increment(&map, "score", 1)
        },
        &|tx| {
            tx.put(ROOT, "n", 1.5)?;
            tx.delete(ROOT, "n")
        },
    ];
    for step in steps {
        doc.transact_with(
            |_| automerge::transaction::CommitOptions::default().with_time(0),
            |tx| step(tx),
        )
        .unwrap();
    }
    doc
}

/// Whether what `seed_document` wrote still reads back (among concurrent
/// values, since a member may legitimately write conflicting ones).
pub fn first_content_intact(doc: &DocHandle) -> bool {
    doc.with_document(|d| {
        let objects = |key: &str| -> Vec<automerge::ObjId> {
            d.get_all(ROOT, key)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, id)| id)
                .collect()
        };
        let first = d
            .get_all(ROOT, "k")
            .unwrap_or_default()
            .into_iter()
            .any(|(v, _)| v.into_string().ok().as_deref() == Some("first"));
        let notes = objects("notes")
            .iter()
            .any(|o| d.text(o).ok().as_deref() == Some("met at the summit"));
        let tags = objects("tags").iter().any(|o| {
            let items: Vec<String> = d
                .list_range(o, ..)
                .filter_map(|item| automerge::Value::from(item.value).into_string().ok())
                .collect();
            items == ["a", "bb", "ccc"]
        });
        let name = objects("person").iter().any(|o| {
            d.get(o, "name")
                .ok()
                .flatten()
                .and_then(|(v, _)| v.into_string().ok())
                .as_deref()
                == Some("Ana Silva")
        });
        first && notes && tags && name
    })
}

/// sam and jo, each with the shared document open.
pub struct Team {
    pub sam: Client,
    pub jo: Client,
    pub sam_doc: DocHandle,
    pub jo_doc: DocHandle,
}

impl Team {
    /// sam creates and registers the shared document; jo opens it.
    pub async fn start(relay: &Relay, tokens: &Tokens) -> Team {
        let sam = client(relay, "sam-good", &tokens.sam).await;
        let doc = seed_document();
        let sam_doc = sam.repo.create(doc).await.unwrap();
        let path = format!("/v1/teams/acme/docs/automerge:{}", sam_doc.document_id());
        assert_eq!(
            http(relay.addr, "PUT", &path, Some(&tokens.sam)).await.0,
            201
        );
        within(
            "the relay has sam's document",
            sam_doc.they_have_our_changes(sam.dialer.connection_id().unwrap()),
        )
        .await;
        let jo = client(relay, "jo-good", &tokens.jo).await;
        let jo_doc = within("jo finds it", jo.repo.find(sam_doc.document_id().clone()))
            .await
            .unwrap()
            .expect("jo sees acme's document");
        Team {
            sam,
            jo,
            sam_doc,
            jo_doc,
        }
    }

    pub fn doc_id(&self) -> DocumentId {
        self.sam_doc.document_id().clone()
    }

    /// Round `round`: sam (even) or jo (odd) writes a key, and the other must
    /// see it within `wait`. Returns how long it took.
    pub async fn round(&self, round: u64, wait: Duration) -> Result<Duration, String> {
        let (writer, reader) = if round.is_multiple_of(2) {
            (&self.sam_doc, &self.jo_doc)
        } else {
            (&self.jo_doc, &self.sam_doc)
        };
        let (key, value) = (probe_key(round), probe_value(round));
        let started = Instant::now();
        put(writer, &key, &value);
        let arrived = tokio::time::timeout(wait, async {
            while get(reader, &key).as_deref() != Some(value.as_str()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        match arrived {
            Ok(()) => Ok(started.elapsed()),
            Err(_) => Err(format!(
                "round {round}: an edit did not reach the other teammate within {wait:?}"
            )),
        }
    }

    pub async fn stop(self) {
        self.sam.repo.stop().await;
        self.jo.repo.stop().await;
    }
}
