//! The WebSocket transport handed to samod: binary frames in and out, a
//! ping every 25 s (samod sends none, and idle proxies drop silent
//! connections), and a kill switch to cut a revoked member off.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt as _, StreamExt as _, TryStreamExt as _};
use samod::Transport;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

const PING_EVERY: Duration = Duration::from_secs(25);

/// Builds the transport; `done` is cancelled when the connection is over.
pub fn relay_transport(
    socket: WebSocket,
    kill: CancellationToken,
    done: CancellationToken,
    metrics: Arc<Metrics>,
) -> Transport {
    let (mut tx, rx) = socket.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let writer_kill = kill.clone();
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = writer_kill.cancelled() => {
                    let _ = tx.send(Message::Close(None)).await;
                    break;
                }
                m = out_rx.recv() => match m {
                    Some(m) => if tx.send(m).await.is_err() { break },
                    None => { let _ = tx.close().await; break }
                },
                _ = ping.tick() => if tx.send(Message::Ping(Default::default())).await.is_err() { break },
            }
        }
        done.cancel();
    });
    let stream = rx
        .take_until(kill.cancelled_owned())
        .map_err(move |e| {
            let text = e.to_string();
            if text.contains("too long") || text.contains("Space limit") || text.contains("exceed")
            {
                Metrics::inc(&metrics.oversized_messages);
            }
            std::io::Error::other(text)
        })
        .try_filter_map(|m| async move {
            match m {
                // Anything that is not well-formed CBOR ends the connection
                // here, before samod sees it.
                Message::Binary(b) => match ciborium::from_reader::<ciborium::Value, _>(&b[..]) {
                    Ok(_) => Ok(Some(b.to_vec())),
                    Err(e) => Err(std::io::Error::other(format!("malformed CBOR: {e}"))),
                },
                Message::Text(_) => Err(std::io::Error::other(
                    "text frames are not part of the protocol",
                )),
                Message::Ping(_) | Message::Pong(_) => Ok(None),
                // The stream ends right after a close frame.
                Message::Close(_) => Ok(None),
            }
        });
    let sink = futures::sink::unfold(out_tx, |tx, bytes: Vec<u8>| async move {
        tx.send(Message::Binary(bytes.into()))
            .map_err(|_| std::io::Error::other("connection closed"))?;
        Ok::<_, std::io::Error>(tx)
    });
    Transport::new(Box::pin(stream), Box::pin(sink))
}
