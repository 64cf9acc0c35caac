//! Interop with real JS clients: `@automerge/automerge-repo` and
//! `-network-websocket` 2.5.6 (tests/interop/, installed by `.ci/run`, or
//! by this test with `npm install` when missing). A JS client creates and edits a
//! document with a token; a Rust samod client sees it; the Rust client's
//! edit reaches a second JS client, whose edit comes back.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use automerge::{ObjType, ROOT, ReadDoc, Value, transaction::Transactable};
mod common;

use common::AuthDialer;
use rapport_relay::Config;
use rapport_relay::teams::Registry;
use samod::{AutomergeUrl, BackoffConfig, PeerId, Repo};
use tokio::net::TcpListener;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

/// Installs the JS packages when they are not there yet.
fn ensure_node_modules() {
    let dir = interop_dir();
    if dir.join("node_modules/@automerge/automerge-repo").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed for the interop test (Node.js 20+)");
    assert!(status.success(), "npm install failed in {}", dir.display());
}

async fn node(args: &[&str]) -> String {
    let dir = interop_dir();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("client.mjs")
            .args(&args)
            .current_dir(dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node is needed for the interop test");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "node failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A string at the root, whether JS wrote it as text or as a scalar.
fn string_at(d: &automerge::Automerge, key: &str) -> Option<String> {
    match d.get(ROOT, key).unwrap()? {
        (Value::Object(ObjType::Text), id) => Some(d.text(&id).unwrap()),
        (Value::Scalar(s), _) => s.as_str().map(String::from),
        _ => None,
    }
}

fn items(d: &automerge::Automerge) -> Vec<String> {
    let Some((Value::Object(ObjType::List), list)) = d.get(ROOT, "items").unwrap() else {
        return vec![];
    };
    (0..d.length(&list))
        .filter_map(|i| match d.get(&list, i).unwrap()? {
            (Value::Object(ObjType::Text), id) => Some(d.text(&id).unwrap()),
            (Value::Scalar(s), _) => s.as_str().map(String::from),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_and_rust_clients_sync_through_the_relay() {
    ensure_node_modules();
    let dir = tempfile::tempdir().unwrap();
    let (_, (rust_token, js_token)) = Registry::update(dir.path(), |r| {
        r.add_team("acme")?;
        Ok((
            r.add_member("acme", "sam", false)?,
            r.add_member("acme", "jay", false)?,
        ))
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rapport_relay::serve(
        Config::for_dir(dir.path()),
        listener,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let ws = format!("ws://{addr}");
    let http = format!("http://{addr}");

    // 1. JS creates and registers a document.
    let out = node(&["create", &ws, &http, "acme", &js_token, "jay-js-1"]).await;
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("URL "))
        .unwrap_or_else(|| panic!("no URL in {out}"))
        .to_string();
    let doc_id = url.parse::<AutomergeUrl>().unwrap().document_id().clone();

    // 2. A Rust samod client sees it, and edits it.
    let repo = Repo::build_tokio()
        .with_peer_id(PeerId::from("sam-rust-1"))
        .load()
        .await;
    let backoff = BackoffConfig {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_retries: Some(20),
    };
    let dialer = repo
        .dial(
            backoff,
            Arc::new(AuthDialer {
                url: format!("{ws}/v1/sync?peer=sam-rust-1"),
                token: rust_token,
            }),
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), dialer.established())
        .await
        .unwrap()
        .unwrap();
    let handle = tokio::time::timeout(Duration::from_secs(10), repo.find(doc_id))
        .await
        .unwrap()
        .unwrap()
        .expect("the JS document reached the relay");
    let from = handle.with_document(|d| string_at(d, "from"));
    assert_eq!(from.as_deref(), Some("js"));
    handle.with_document(|d| {
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, "from_rust", "hello from rust")?;
            Ok(())
        })
        .unwrap();
    });
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.they_have_our_changes(dialer.connection_id().unwrap()),
    )
    .await
    .unwrap();

    // 3. A second JS client reads the Rust edit and appends to the list.
    let out = node(&["read", &ws, &http, "acme", &js_token, "jay-js-2", &url]).await;
    assert!(out.contains("\"from_rust\":\"hello from rust\""), "{out}");
    tokio::time::timeout(Duration::from_secs(10), async {
        while !handle
            .with_document(|d| items(d))
            .contains(&"from js".to_string())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the JS edit reaches the Rust client");
    assert_eq!(
        handle.with_document(|d| items(d)),
        vec!["one".to_string(), "from js".to_string()]
    );

    repo.stop().await;
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}

/// Changes made by the JS automerge library (3.x, the one automerge-repo
/// clients run) in every way an app might edit: the relay's payload check
/// demands that automerge-rs re-encode a change to its own hash, and must
/// never refuse honest JS changes. Also each change compressed (`bytes()`),
/// as a client may send it.
#[test]
fn changes_made_by_js_automerge_pass_the_relays_payload_check() {
    ensure_node_modules();
    let out = Command::new("node")
        .arg("changes.mjs")
        .current_dir(interop_dir())
        .output()
        .expect("node is needed for the interop test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let changes: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| hex::decode(l.trim()).unwrap())
        .collect();
    assert!(changes.len() > 50, "{} changes", changes.len());
    let message = |bytes: Vec<u8>| {
        automerge::sync::Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: bytes.into(),
            flags: None,
            version: automerge::sync::MessageVersion::V2,
        }
        .encode()
    };
    let mut compressed = 0;
    for bytes in changes {
        let mut change = automerge::Change::from_bytes(bytes.clone()).unwrap();
        let packed = change.bytes().to_vec();
        if packed != bytes {
            compressed += 1;
        }
        for form in [bytes, packed] {
            if let Err(e) = rapport_relay::validate::sync_payload(&message(form)) {
                panic!("the relay refused a JS change {}: {}", change.hash(), e.0);
            }
        }
    }
    assert!(compressed > 0, "no change was large enough to compress");
}
