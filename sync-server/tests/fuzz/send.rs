//! Sends one hostile input and judges the relay's answer: every input must
//! get an answer or a clean close within the case's time limit, a
//! WebSocket the relay keeps open must still answer a ping and finish a
//! close, and nothing without a valid token may be let in.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::inputs::{Case, Frame, Input, Who, World};

/// How the relay dealt with an input. Any of these is fine; what is not
/// fine is an `Err` (no answer in time, or an answer that lets in
/// someone it should not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// An HTTP status (a refused upgrade, or the HTTP API's answer).
    Status(u16),
    /// The relay closed the connection (or reset it).
    Closed,
    /// The WebSocket stayed open, answered a ping, and closed cleanly
    /// when asked.
    StillServing,
}

pub async fn send(
    addr: SocketAddr,
    world: &World,
    case: &Case,
    limit: Duration,
) -> Result<Outcome, String> {
    let run = async {
        match &case.input {
            Input::Tcp { bytes, token_team } => tcp(addr, world, bytes, *token_team).await,
            Input::Ws {
                who,
                token_in_query,
                frames,
            } => ws(addr, world, &case.peer, *who, *token_in_query, frames).await,
            Input::RawWs { bytes } => raw_ws(addr, world, &case.peer, bytes).await,
        }
    };
    tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| Err(format!("no answer and no close within {limit:?}")))
}

fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    if !line.starts_with("HTTP/1.") {
        return None;
    }
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn tcp(
    addr: SocketAddr,
    world: &World,
    request: &[u8],
    token_team: Option<&str>,
) -> Result<Outcome, String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("the relay does not accept connections: {e}"))?;
    // The relay may answer and close before it has read everything.
    let _ = s.write_all(request).await;
    let _ = s.shutdown().await;
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response).await;
    let Some(status) = status_of(&response) else {
        return Ok(Outcome::Closed);
    };
    let first_line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let team_url = String::from_utf8_lossy(first_line).contains(" /v1/teams/");
    if team_url && (200..300).contains(&status) && token_team.is_none() {
        return Err(format!("{status} to a team URL without a valid token"));
    }
    let text = String::from_utf8_lossy(&response);
    if (200..300).contains(&status)
        && token_team != Some("acme")
        && text.contains(&world.shared_doc)
    {
        return Err("acme's document shown to someone outside acme".into());
    }
    if status >= 500 && status != 503 {
        return Err(format!("{status}: the relay failed on this input"));
    }
    Ok(Outcome::Status(status))
}

fn token_of(world: &World, who: Who) -> Option<&str> {
    match who {
        Who::Mallory => Some(&world.mallory),
        Who::ReadOnly => Some(&world.ro),
        Who::Eve => Some(&world.eve),
        Who::NoToken => None,
        Who::BadToken => Some("rpt_2NbwGjoeVvChUKUGkY7uLyTvAoJzXXXXXXXXXXXXXXXX"),
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws(
    addr: SocketAddr,
    world: &World,
    peer: &str,
    who: Who,
    token_in_query: bool,
    frames: &[Frame],
) -> Result<Outcome, String> {
    let token = token_of(world, who);
    let mut url = format!("ws://{addr}/v1/sync?peer={peer}");
    if let (Some(t), true) = (token, token_in_query) {
        url += &format!("&token={t}");
    }
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    if let (Some(t), false) = (token, token_in_query) {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let mut socket = match tokio_tungstenite::connect_async(req).await {
        Ok((socket, _)) => socket,
        Err(tungstenite::Error::Http(resp)) => {
            return Ok(Outcome::Status(resp.status().as_u16()));
        }
        Err(_) => return Ok(Outcome::Closed),
    };
    if matches!(who, Who::NoToken | Who::BadToken) {
        return Err("the sync WebSocket opened without a valid token".into());
    }
    for frame in frames {
        let message = match frame {
            Frame::Binary(b) => Message::Binary(b.clone().into()),
            Frame::Text(t) => Message::Text(t.clone().into()),
            Frame::Ping(p) => Message::Ping(p.clone().into()),
            Frame::Pause(d) => {
                tokio::time::sleep(*d).await;
                continue;
            }
        };
        if socket.send(message).await.is_err() {
            break;
        }
    }
    still_serving(&mut socket).await
}

/// Either the relay has closed the connection, or it must answer a ping
/// and then finish a close we start.
async fn still_serving(socket: &mut Ws) -> Result<Outcome, String> {
    const MARK: &[u8] = b"fuzz: still there?";
    let _ = socket.send(Message::Ping(MARK.to_vec().into())).await;
    loop {
        match socket.next().await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(Outcome::Closed),
            Some(Ok(Message::Pong(p))) if p.as_ref() == MARK => break,
            Some(Ok(_)) => {}
        }
    }
    let _ = socket.close(None).await;
    while let Some(Ok(_)) = socket.next().await {}
    Ok(Outcome::StillServing)
}

async fn raw_ws(
    addr: SocketAddr,
    world: &World,
    peer: &str,
    frames: &[u8],
) -> Result<Outcome, String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("the relay does not accept connections: {e}"))?;
    let upgrade = format!(
        "GET /v1/sync?peer={peer} HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {}\r\n\r\n",
        world.mallory
    );
    s.write_all(upgrade.as_bytes())
        .await
        .map_err(|e| format!("could not send the upgrade: {e}"))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return Ok(Outcome::Closed),
        }
    }
    match status_of(&head) {
        Some(101) => {}
        Some(status) => return Ok(Outcome::Status(status)),
        None => return Err("not an HTTP answer to the upgrade".into()),
    }
    let _ = s.write_all(frames).await;
    let _ = s.shutdown().await;
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    Ok(Outcome::Closed)
}
