//! The hostile inputs: a seeded generator of what a misbehaving client can
//! send the relay, from raw TCP bytes up to well-formed sync messages that
//! carry damaged automerge changes. Every input is a pure function of
//! (seed, case number), so a failing case replays alone.

use automerge::ChangeHash;
use automerge::sync::{Message as SyncMessage, MessageFlags, MessageVersion};
use ciborium::Value;
use sha2::{Digest as _, Sha256};

/// SplitMix64: tiny and deterministic, so a seed replays the same inputs on
/// every machine and with every version of every crate.
pub struct Rng(u64);

impl Rng {
    /// The generator for one case of a campaign.
    pub fn for_case(seed: u64, case: u64) -> Rng {
        let mut mix = Rng(seed ^ case.wrapping_mul(0xa076_1d64_78bd_642f));
        Rng(mix.next())
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Random bytes of a [`size`](Self::size).
    pub fn junk(&mut self) -> Vec<u8> {
        let n = self.size();
        self.bytes(n)
    }

    pub fn junk_nonempty(&mut self) -> Vec<u8> {
        let n = 1 + self.size();
        self.bytes(n)
    }

    pub fn bytes_below(&mut self, n: usize) -> Vec<u8> {
        let n = self.below(n);
        self.bytes(n)
    }

    /// Mostly short, sometimes long: sizes where parsers break.
    pub fn size(&mut self) -> usize {
        match self.below(10) {
            0..=5 => self.below(16),
            6..=8 => self.below(300),
            _ => self.below(5000),
        }
    }
}

/// What the relay and the well-behaved team look like, for the generator.
pub struct World {
    /// Tokens of acme's hostile read-write member, acme's read-only member,
    /// and beta's member.
    pub mallory: String,
    pub ro: String,
    pub eve: String,
    /// Peer ids of the well-behaved clients (for spoofing).
    pub good_peers: Vec<String>,
    /// The shared acme document, beta's document, and an id nobody registered.
    pub shared_doc: String,
    pub beta_doc: String,
    pub unregistered_doc: String,
    /// Real automerge bytes of the shared document: each change, and the
    /// whole document saved.
    pub changes: Vec<Vec<u8>>,
    pub hashes: Vec<ChangeHash>,
    pub saved: Vec<u8>,
    /// A checksum-valid document automerge 0.12 panics on.
    pub panicking: Vec<u8>,
    pub max_message_bytes: usize,
    /// The shared document as the campaign starts, to recognise inputs of a
    /// known automerge bug (see `known_bug`).
    pub document: automerge::Automerge,
    /// Whether to send those inputs anyway (`RAPPORT_FUZZ_KNOWN_BUGS=1`).
    pub send_known_bugs: bool,
    /// How many were set aside.
    pub known_bug_inputs: std::sync::atomic::AtomicU64,
}

/// Known automerge bug (`known_bug.rs`): a sync payload the relay's check
/// lets through (every change decodes on its own) but automerge panics
/// applying. The relay contains it by restarting the team's repo (tested
/// there); the campaign sets such inputs aside, and counts them, unless
/// `send_known_bugs`, so its "no panics" check watches everything else.
fn known_bug(world: &World, data: &[u8]) -> bool {
    if rapport_relay::validate::sync_payload(data).is_err() {
        return false;
    }
    let Ok(message) = SyncMessage::decode(data) else {
        return false;
    };
    let mut doc = world.document.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        use automerge::sync::SyncDoc as _;
        let mut state = automerge::sync::State::new();
        let _ = doc.receive_sync_message(&mut state, message);
        // The relay answers: generating the reply is where the second
        // known bug shows.
        let _ = doc.generate_sync_message(&mut state);
    }))
    .is_err()
}

/// A hostile payload, other than a known bug's unless asked for.
fn payload(rng: &mut Rng, world: &World) -> Vec<u8> {
    loop {
        let data = hostile_payload(rng, world);
        if world.send_known_bugs || !known_bug(world, &data) {
            return data;
        }
        world
            .known_bug_inputs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Who opens a WebSocket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Who {
    Mallory,
    ReadOnly,
    Eve,
    NoToken,
    BadToken,
}

#[derive(Debug)]
pub enum Frame {
    Binary(Vec<u8>),
    Text(String),
    Ping(Vec<u8>),
    /// Nothing sent for this long: the connection stays open.
    Pause(std::time::Duration),
}

/// One hostile input.
pub enum Input {
    /// Bytes on a fresh TCP connection, then our write side is shut.
    /// `token_team` is the team of a valid token somewhere in the request,
    /// if any: without one, no `/v1/teams` URL may answer 2xx.
    Tcp {
        bytes: Vec<u8>,
        token_team: Option<&'static str>,
    },
    /// A WebSocket opened normally, then frames through tungstenite.
    Ws {
        who: Who,
        token_in_query: bool,
        frames: Vec<Frame>,
    },
    /// A valid upgrade, then raw bytes at the WebSocket frame level.
    RawWs { bytes: Vec<u8> },
}

/// A case: the family it comes from (for the summary) and the input.
pub struct Case {
    pub family: &'static str,
    /// The peer id of this case's WebSocket (`?peer=` and `senderId`).
    pub peer: String,
    pub input: Input,
}

impl Case {
    /// Every byte sent, in hex (`RAPPORT_FUZZ_DUMP=1`).
    pub fn dump(&self) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match &self.input {
            Input::Tcp { bytes, .. } | Input::RawWs { bytes } => hex(bytes),
            Input::Ws { frames, .. } => frames
                .iter()
                .map(|f| match f {
                    Frame::Binary(b) => format!("binary {}", hex(b)),
                    Frame::Text(t) => format!("text {}", hex(t.as_bytes())),
                    Frame::Ping(p) => format!("ping {}", hex(p)),
                    Frame::Pause(d) => format!("pause {d:?}"),
                })
                .collect::<Vec<_>>()
                .join("\n  "),
        }
    }

    /// Enough to see what was sent; the full input replays from the seed.
    pub fn describe(&self) -> String {
        let head = |b: &[u8]| {
            let shown: String = b.iter().take(48).map(|x| format!("{x:02x}")).collect();
            format!(
                "{} bytes: {shown}{}",
                b.len(),
                if b.len() > 48 { "…" } else { "" }
            )
        };
        match &self.input {
            Input::Tcp { bytes, .. } => format!(
                "{}: tcp {:?}",
                self.family,
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ),
            Input::RawWs { bytes } => format!("{}: raw frames {}", self.family, head(bytes)),
            Input::Ws { who, frames, .. } => {
                let shown: Vec<String> = frames
                    .iter()
                    .map(|f| match f {
                        Frame::Binary(b) => format!("binary {}", head(b)),
                        Frame::Text(t) => format!("text {} bytes", t.len()),
                        Frame::Ping(p) => format!("ping {} bytes", p.len()),
                        Frame::Pause(d) => format!("pause {d:?}"),
                    })
                    .collect();
                format!("{}: ws as {who:?}: [{}]", self.family, shown.join(", "))
            }
        }
    }
}

/// The case `case` of the campaign with `seed`.
pub fn generate(world: &World, seed: u64, case: u64) -> Case {
    let mut rng = Rng::for_case(seed, case);
    let peer = format!("fz-{case}");
    let (family, input): (&'static str, Input) = match rng.below(100) {
        0..=29 => ("sync payload", sync_attack(&mut rng, world, &peer)),
        30..=44 => (
            "malformed message",
            malformed_message(&mut rng, world, &peer),
        ),
        45..=54 => ("garbage frames", garbage_frames(&mut rng, world, &peer)),
        55..=59 => ("size limit", oversized(&mut rng, world, &peer)),
        60..=64 => ("other member", other_member(&mut rng, world, &peer)),
        65..=71 => ("raw ws frames", raw_frames(&mut rng, world, &peer)),
        72..=89 => ("http api", http_request(&mut rng, world)),
        _ => ("raw tcp", raw_tcp(&mut rng, world)),
    };
    Case {
        family,
        peer,
        input,
    }
}

// ---------------------------------------------------------------- CBOR

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("CBOR encodes into a Vec");
    out
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

pub fn join(peer: &str) -> Vec<u8> {
    encode(&map(vec![
        ("type", text("join")),
        ("senderId", text(peer)),
        ("supportedProtocolVersions", Value::Array(vec![text("1")])),
        ("peerMetadata", Value::Map(vec![])),
    ]))
}

fn message(kind: &str, peer: &str, doc: &str, data: Vec<u8>) -> Value {
    map(vec![
        ("type", text(kind)),
        ("documentId", text(doc)),
        ("senderId", text(peer)),
        ("targetId", text(rapport_relay::RELAY_PEER_ID)),
        ("data", Value::Bytes(data)),
    ])
}

/// A random CBOR value, `depth` levels deep at most.
fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth == 0 || rng.chance(60);
    match if leaf { rng.below(8) } else { 8 + rng.below(3) } {
        0 => Value::Integer((rng.next() as i64).into()),
        1 => Value::Integer((rng.below(3) as i64 - 1).into()),
        2 => Value::Bytes(rng.junk()),
        3 => Value::Text(String::from_utf8_lossy(&rng.junk()).into_owned()),
        4 => Value::Bool(rng.chance(50)),
        5 => Value::Null,
        6 => Value::Float(*rng.pick(&[f64::NAN, f64::INFINITY, -0.0, 1e308])),
        7 => text(rng.pick::<&str>(&["join", "sync", "request", "1", "", "automerge:"])),
        8 => Value::Array(
            (0..rng.below(5))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        9 => Value::Map(
            (0..rng.below(5))
                .map(|_| {
                    let key = random_value(rng, depth - 1);
                    (key, random_value(rng, depth - 1))
                })
                .collect(),
        ),
        _ => Value::Tag(rng.next() % 300, Box::new(random_value(rng, depth - 1))),
    }
}

/// CBOR that parsers choke on: declared lengths far past the end, deep
/// nesting, indefinite lengths, non-minimal heads.
fn nasty_cbor(rng: &mut Rng) -> Vec<u8> {
    match rng.below(7) {
        // A byte string, array or map claiming 2^62 elements.
        0 => {
            let mut b = vec![*rng.pick(&[0x5b, 0x7b, 0x9b, 0xbb])];
            b.extend_from_slice(&(1u64 << 62).to_be_bytes());
            b.extend(rng.junk());
            b
        }
        // Deeply nested arrays or maps.
        1 => {
            let depth = 10 + rng.below(20_000);
            let mut b = vec![*rng.pick(&[0x81u8, 0xa1, 0x9f, 0xd8]); depth];
            b.push(0x00);
            b
        }
        // An indefinite-length map with a sync message inside.
        2 => {
            let mut b = vec![0xbf];
            for (k, v) in [("type", "sync"), ("documentId", "x"), ("senderId", "y")] {
                b.extend(encode(&text(k)));
                b.extend(encode(&text(v)));
            }
            b.extend(encode(&text("data")));
            b.extend([0x5f, 0x41, 0x00, 0x41, 0x01, 0xff, 0xff]);
            b
        }
        // A map whose first key is a tag, a float, or a nested map.
        3 => {
            let mut b = vec![0xa1];
            b.extend(encode(&random_value(rng, 2)));
            b.extend(encode(&random_value(rng, 2)));
            b
        }
        // Non-minimal length encodings of a short text key.
        4 => {
            let mut b = vec![0xa1, 0x7b];
            b.extend_from_slice(&4u64.to_be_bytes());
            b.extend_from_slice(b"type");
            b.extend(encode(&text("join")));
            b
        }
        // Break codes and reserved simple values where items belong.
        5 => vec![*rng.pick(&[0xff, 0x1c, 0x1d, 0x1e, 0xfc, 0xf8])],
        _ => rng.junk_nonempty(),
    }
}

// ------------------------------------------------- automerge payloads

/// Recomputes a chunk's checksum (first 4 bytes of the SHA-256 of
/// everything after magic and checksum), so automerge gets past it.
pub fn fix_checksum(chunk: &mut [u8]) {
    if chunk.len() > 8 {
        let sum = Sha256::digest(&chunk[8..]);
        chunk[4..8].copy_from_slice(&sum[..4]);
    }
}

/// One or two byte changes past the chunk header (where a damaged column
/// still has a valid length), sometimes with a fixed checksum.
fn mutate_chunk(rng: &mut Rng, chunk: &[u8]) -> Vec<u8> {
    let mut bytes = chunk.to_vec();
    let start = if rng.chance(85) {
        10.min(bytes.len())
    } else {
        0
    };
    for _ in 0..1 + rng.below(2) {
        if bytes.len() > start {
            let at = start + rng.below(bytes.len() - start);
            bytes[at] = if rng.chance(50) {
                rng.next() as u8
            } else {
                bytes[at] ^ (1 << rng.below(8))
            };
        }
    }
    if rng.chance(70) {
        fix_checksum(&mut bytes);
    }
    bytes
}

fn random_hash(rng: &mut Rng) -> ChangeHash {
    let mut h = [0u8; 32];
    h.copy_from_slice(&rng.bytes(32));
    ChangeHash(h)
}

/// The `data` of a hostile sync or request message.
fn hostile_payload(rng: &mut Rng, world: &World) -> Vec<u8> {
    let change = rng.pick(&world.changes).clone();
    let chunks: Vec<Vec<u8>> = match rng.below(9) {
        0..=2 => vec![mutate_chunk(rng, &change)],
        3 => vec![mutate_chunk(rng, &world.saved)],
        4 => vec![world.panicking.clone()],
        // Several changes back to back, the last one cut short or damaged.
        5 => {
            let mut all: Vec<u8> = world.changes.concat();
            let cut = rng.below(all.len());
            if rng.chance(50) {
                all.truncate(cut);
            } else {
                all[cut] ^= 0x40;
            }
            vec![all]
        }
        // Changes the relay already has (replays) and random chunks.
        6 => vec![change, rng.junk()],
        7 => vec![],
        _ => vec![change],
    };
    let mut flags = MessageFlags::new();
    if rng.chance(20) {
        flags.set(*rng.pick(&[
            MessageFlags::SYNC_RESET,
            MessageFlags::READ_ONLY,
            MessageFlags::SUPPORTS_SYNC_RESET,
        ]));
    }
    // automerge's encoder insists on sorted hashes; unsorted ones are made
    // below, on the encoded bytes.
    let mut heads: Vec<ChangeHash> = (0..rng.below(3)).map(|_| random_hash(rng)).collect();
    // Hashes the relay has, and hashes it does not.
    let mut need: Vec<ChangeHash> = (0..rng.below(3))
        .map(|_| match rng.below(2) {
            0 => random_hash(rng),
            _ => *rng.pick(&world.hashes),
        })
        .collect();
    heads.sort();
    need.sort();
    need.dedup();
    let two_heads = heads.len() == 2;
    let message = SyncMessage {
        heads,
        need,
        have: vec![],
        changes: chunks.into(),
        flags: rng.chance(30).then_some(flags),
        version: if rng.chance(50) {
            MessageVersion::V1
        } else {
            MessageVersion::V2
        },
    };
    let mut encoded = message.encode();
    // Type byte, count (2), then the two heads: swap them.
    if two_heads && rng.chance(50) && encoded.len() >= 66 {
        let (first, second) = encoded[2..66].split_at_mut(32);
        first.swap_with_slice(second);
    }
    match rng.below(10) {
        // The encoded sync message itself damaged or cut.
        0 => {
            let at = rng.below(encoded.len());
            encoded[at] = rng.next() as u8;
        }
        1 => encoded.truncate(rng.below(encoded.len())),
        2 => encoded = rng.junk(),
        _ => {}
    }
    encoded
}

/// Join, then sync or request messages for the shared document carrying
/// damaged automerge data.
fn sync_attack(rng: &mut Rng, world: &World, peer: &str) -> Input {
    let mut frames = vec![Frame::Binary(join(peer))];
    for _ in 0..1 + rng.below(3) {
        let kind = if rng.chance(70) { "sync" } else { "request" };
        let doc = if rng.chance(80) {
            world.shared_doc.clone()
        } else {
            format!("automerge:{}", world.shared_doc)
        };
        let data = payload(rng, world);
        frames.push(Frame::Binary(encode(&message(kind, peer, &doc, data))));
    }
    Input::Ws {
        who: Who::Mallory,
        token_in_query: rng.chance(20),
        frames,
    }
}

// ------------------------------------------- malformed protocol messages

const KINDS: &[&str] = &[
    "join",
    "peer",
    "leave",
    "request",
    "sync",
    "doc-unavailable",
    "ephemeral",
    "error",
    "remote-subscription-change",
    "remote-heads-changed",
    "",
    "SYNC",
    "sync\0",
];

fn document_id(rng: &mut Rng, world: &World) -> Value {
    match rng.below(10) {
        0 => text(&world.shared_doc),
        1 => text(&world.beta_doc),
        2 => text(&world.unregistered_doc),
        3 => text(&format!("automerge:{}", world.beta_doc)),
        4 => Value::Bytes(
            bs58::decode(&world.shared_doc)
                .into_vec()
                .unwrap_or_default(),
        ),
        5 => text(&"A".repeat(rng.below(20_000))),
        6 => text(&format!("{}\0", world.shared_doc)),
        7 => text(&format!("../{}", world.shared_doc)),
        8 => text(""),
        _ => random_value(rng, 2),
    }
}

/// A protocol message with fields missing, of the wrong type, unknown,
/// spoofed or pointing at other teams' documents.
fn malformed_message(rng: &mut Rng, world: &World, peer: &str) -> Input {
    let mut frames = Vec::new();
    if rng.chance(80) {
        frames.push(Frame::Binary(join(peer)));
    }
    for _ in 0..1 + rng.below(3) {
        let sender = if rng.chance(15) {
            rng.pick(&world.good_peers).clone()
        } else {
            peer.to_string()
        };
        let target = if rng.chance(20) {
            rng.pick(&world.good_peers).clone()
        } else {
            rapport_relay::RELAY_PEER_ID.to_string()
        };
        let mut entries: Vec<(Value, Value)> = vec![
            (text("type"), text(rng.pick::<&str>(KINDS))),
            (text("senderId"), text(&sender)),
            (text("targetId"), text(&target)),
            (text("documentId"), document_id(rng, world)),
            (text("data"), Value::Bytes(payload(rng, world))),
            (
                text("supportedProtocolVersions"),
                Value::Array(vec![text(rng.pick::<&str>(&["1", "2", ""]))]),
            ),
            (text("count"), Value::Integer((rng.next() as i64).into())),
            (text("sessionId"), text("s")),
            (text("newHeads"), random_value(rng, 3)),
            (text("add"), random_value(rng, 2)),
        ];
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(entries.len());
            match rng.below(5) {
                0 => {
                    entries.remove(at);
                }
                1 | 2 => entries[at].1 = random_value(rng, 3),
                3 => entries.push(entries[at].clone()),
                _ => entries.push((random_value(rng, 1), random_value(rng, 3))),
            }
            if entries.is_empty() {
                break;
            }
        }
        let mut bytes = encode(&Value::Map(entries));
        if rng.chance(20) {
            bytes.truncate(rng.below(bytes.len()));
        } else if rng.chance(15) {
            bytes.extend(rng.junk_nonempty());
        }
        frames.push(Frame::Binary(bytes));
    }
    Input::Ws {
        who: Who::Mallory,
        token_in_query: false,
        frames,
    }
}

/// Malformed CBOR, random bytes before or after a valid join, text frames
/// and pings with payloads.
fn garbage_frames(rng: &mut Rng, _world: &World, peer: &str) -> Input {
    let mut frames = Vec::new();
    if rng.chance(60) {
        frames.push(Frame::Binary(join(peer)));
    }
    for _ in 0..1 + rng.below(3) {
        frames.push(match rng.below(6) {
            0 => Frame::Binary(rng.junk()),
            1 | 2 => Frame::Binary(nasty_cbor(rng)),
            3 => Frame::Binary(encode(&random_value(rng, 4))),
            4 => Frame::Text(String::from_utf8_lossy(&rng.junk()).into_owned()),
            _ => Frame::Ping(rng.bytes_below(126)),
        });
    }
    Input::Ws {
        who: Who::Mallory,
        token_in_query: false,
        frames,
    }
}

/// Frames at, just over, and far over `max_message_bytes`.
fn oversized(rng: &mut Rng, world: &World, peer: &str) -> Input {
    let max = world.max_message_bytes;
    let len = match rng.below(4) {
        0 => max,
        1 => max + 1,
        2 => max + 1 + rng.below(max),
        _ => 3 * max,
    };
    let body = if rng.chance(50) {
        let data = rng.bytes(len.saturating_sub(200));
        encode(&message("sync", peer, &world.shared_doc, data))
    } else {
        rng.bytes(len)
    };
    Input::Ws {
        who: Who::Mallory,
        token_in_query: false,
        frames: vec![Frame::Binary(join(peer)), Frame::Binary(body)],
    }
}

/// The read-only member, another team, or no valid token at all, sending
/// sync messages about acme's document.
fn other_member(rng: &mut Rng, world: &World, peer: &str) -> Input {
    let who = *rng.pick(&[Who::ReadOnly, Who::Eve, Who::NoToken, Who::BadToken]);
    let mut frames = vec![Frame::Binary(join(peer))];
    for _ in 0..1 + rng.below(2) {
        let change = if rng.chance(50) {
            rng.pick(&world.changes).clone()
        } else {
            rng.junk()
        };
        let data = sync_message(change);
        let kind = rng.pick(&["sync", "request", "ephemeral", "doc-unavailable"]);
        frames.push(Frame::Binary(encode(&message(
            kind,
            peer,
            &world.shared_doc,
            data,
        ))));
    }
    Input::Ws {
        who,
        token_in_query: rng.chance(30),
        frames,
    }
}

// ------------------------------------------------ WebSocket frame level

/// A WebSocket frame header and payload, written by hand so every field can
/// be wrong: reserved bits, opcodes, masking, lengths.
fn raw_frame(rng: &mut Rng, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let rsv = if rng.chance(10) {
        (rng.below(8) as u8) << 4
    } else {
        0
    };
    let mut out = vec![(u8::from(fin) << 7) | rsv | (opcode & 0x0f)];
    let masked = !rng.chance(10);
    let mask_bit = if masked { 0x80 } else { 0 };
    let len = payload.len();
    let lie = rng.chance(10);
    if lie {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(u64::MAX >> rng.below(2)).to_be_bytes());
    } else if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if masked {
        let key = rng.bytes(4);
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn raw_frames(rng: &mut Rng, _world: &World, peer: &str) -> Input {
    let mut bytes = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let frame = match rng.below(7) {
            // A join split across continuation frames: valid.
            0 => {
                let j = join(peer);
                let cut = rng.below(j.len());
                let mut b = raw_frame(rng, false, 0x2, &j[..cut]);
                b.extend(raw_frame(rng, true, 0x0, &j[cut..]));
                b
            }
            // A continuation with nothing to continue, a bad opcode.
            1 => {
                let (fin, n) = (rng.chance(50), rng.size());
                let payload = rng.bytes(n);
                raw_frame(rng, fin, 0x0, &payload)
            }
            2 => {
                let (opcode, n) = (3 + rng.below(5) as u8, rng.size());
                let payload = rng.bytes(n);
                raw_frame(rng, true, opcode, &payload)
            }
            // Control frames too long, fragmented, or closing with odd codes.
            3 => {
                let (fin, n) = (rng.chance(50), 100 + rng.below(200));
                let payload = rng.bytes(n);
                raw_frame(rng, fin, 0x9, &payload)
            }
            4 => {
                let n = rng.below(4);
                let payload = rng.bytes(n);
                raw_frame(rng, true, 0x8, &payload)
            }
            // Invalid UTF-8 text.
            5 => raw_frame(rng, true, 0x1, &[0xc3, 0x28, 0xff]),
            // A header cut short.
            _ => {
                let n = 1 + rng.below(8);
                rng.bytes(n)
            }
        };
        bytes.extend(frame);
    }
    Input::RawWs { bytes }
}

// ----------------------------------------------------------- HTTP API

const HUGE: usize = 70 * 1024;

fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn path_segment(rng: &mut Rng, world: &World, team: bool) -> String {
    let plain = if team {
        rng.pick(&["acme", "beta", "nope", ""]).to_string()
    } else {
        match rng.below(4) {
            0 => world.shared_doc.clone(),
            1 => format!("automerge:{}", world.beta_doc),
            2 => format!("automerge:{}", world.unregistered_doc),
            _ => world.unregistered_doc.clone(),
        }
    };
    match rng.below(12) {
        0..=4 => plain,
        5 => percent_encode_all(&plain),
        6 => "..".into(),
        7 => "%2e%2e%2f%2e%2e".into(),
        8 => "x".repeat(if rng.chance(50) { 300 } else { HUGE }),
        9 => format!("{plain}%00"),
        10 => format!("{plain}%2F{plain}"),
        _ => String::from_utf8_lossy(&rng.junk())
            .chars()
            .filter(|c| !c.is_control() && *c != ' ')
            .collect(),
    }
}

fn http_request(rng: &mut Rng, world: &World) -> Input {
    let method = if rng.chance(70) {
        *rng.pick(&["GET", "PUT"])
    } else {
        *rng.pick(&[
            "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get", "FOO", "",
        ])
    };
    let mut path = match rng.below(8) {
        0..=3 => format!(
            "/v1/teams/{}/docs/{}",
            path_segment(rng, world, true),
            path_segment(rng, world, false)
        ),
        4 => format!("/v1/teams/{}/docs", path_segment(rng, world, true)),
        5 => format!("/v1/sync?peer={}", path_segment(rng, world, false)),
        6 => rng
            .pick(&[
                "/healthz",
                "/metrics",
                "/",
                "*",
                "//v1//teams",
                "/v1/teams/acme/docs/../../../metrics",
                "http://relay/v1/teams/acme/docs",
            ])
            .to_string(),
        _ => format!("/{}", path_segment(rng, world, false)),
    };
    let (token, token_team): (String, Option<&'static str>) = match rng.below(8) {
        0 => (world.mallory.clone(), Some("acme")),
        1 => (world.eve.clone(), Some("beta")),
        2 => (world.ro.clone(), Some("acme")),
        3 => (format!("{}x", world.mallory), None),
        4 => (world.mallory[..world.mallory.len() - 1].to_string(), None),
        5 => ("rpt_".to_string() + &"1".repeat(rng.below(HUGE)), None),
        6 => (String::new(), None),
        _ => (String::from_utf8_lossy(&rng.junk()).into_owned(), None),
    };
    let mut headers = String::from("Host: relay\r\n");
    let mut valid_token_sent = None;
    match rng.below(8) {
        0 => {}
        1 => {
            path.push_str(if path.contains('?') {
                "&token="
            } else {
                "?token="
            });
            path.push_str(&percent_encode_all(&token));
            valid_token_sent = token_team;
        }
        2 => headers += &format!("Authorization: Basic {token}\r\n"),
        3 => headers += &format!("Authorization:Bearer{token}\r\n"),
        4 => {
            headers += &format!("Authorization: Bearer {token}\r\nAuthorization: Bearer x\r\n");
            valid_token_sent = token_team;
        }
        _ => {
            let scheme = rng.pick(&["Bearer", "bearer", "BEARER", "Bearer  "]);
            headers += &format!("Authorization: {scheme} {token}\r\n");
            valid_token_sent = token_team;
        }
    }
    if rng.chance(10) {
        headers += &format!("X-Huge: {}\r\n", "h".repeat(HUGE));
    }
    if rng.chance(10) {
        for i in 0..200 {
            headers += &format!("X-Many-{i}: {i}\r\n");
        }
    }
    let body_len = if rng.chance(10) { HUGE } else { rng.size() };
    let body = rng.bytes(body_len);
    match rng.below(4) {
        0 => headers += &format!("Content-Length: {}\r\n", body.len()),
        1 => headers += &format!("Content-Length: {}\r\n", body.len() * 2 + 1),
        2 => headers += "Transfer-Encoding: chunked\r\n",
        _ => {}
    }
    if rng.chance(70) {
        headers += "Connection: close\r\n";
    }
    let version = if rng.chance(80) {
        "HTTP/1.1"
    } else {
        *rng.pick(&["HTTP/1.0", "HTTP/2.0", "HTTP/9", "http/1.1"])
    };
    let mut bytes = format!("{method} {path} {version}\r\n{headers}\r\n").into_bytes();
    bytes.extend(body);
    Input::Tcp {
        bytes,
        token_team: valid_token_sent,
    }
}

/// Garbage and broken WebSocket upgrades on a bare TCP connection.
fn raw_tcp(rng: &mut Rng, world: &World) -> Input {
    let upgrade = |extra: &str| {
        format!(
            "GET /v1/sync?peer=x HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {}\r\n{extra}\r\n",
            world.mallory
        )
    };
    let bytes = match rng.below(8) {
        0 => rng.junk_nonempty(),
        1 => b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        2 => upgrade("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
            .into_bytes(),
        3 => upgrade(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 8\r\n",
        )
        .into_bytes(),
        4 => upgrade("Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n").into_bytes(),
        5 => {
            let mut b = upgrade(
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            )
            .into_bytes();
            let cut = rng.below(b.len());
            b.truncate(cut);
            b
        }
        6 => b"GET /healthz HTTP/1.1\nHost: relay\n\n".to_vec(),
        _ => {
            let mut b = b"GET /healthz HTTP/1.1\r\n".to_vec();
            b.extend(rng.junk());
            b.extend_from_slice(b"\r\n\r\n");
            b
        }
    };
    Input::Tcp {
        bytes,
        token_team: None,
    }
}

/// A V2 sync message carrying `changes` (one or more chunks back to back)
/// and nothing else.
pub fn sync_message(changes: Vec<u8>) -> Vec<u8> {
    SyncMessage {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: changes.into(),
        flags: None,
        version: MessageVersion::V2,
    }
    .encode()
}
