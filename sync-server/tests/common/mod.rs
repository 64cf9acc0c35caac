//! Test support shared by the relay's test binaries.

#![allow(dead_code, clippy::unwrap_used)]

use futures::future::BoxFuture;
use futures::{SinkExt as _, StreamExt as _, TryStreamExt as _};
use samod::{DialError, Transport};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// A samod dialer that sends the token as a bearer header.
pub struct AuthDialer {
    pub url: String,
    pub token: String,
}

impl samod::Dialer for AuthDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        samod::Url::parse(&self.url).unwrap()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let (url, token) = (self.url.clone(), self.token.clone());
        Box::pin(async move {
            let mut req = url
                .as_str()
                .into_client_request()
                .map_err(DialError::transient)?;
            req.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            let (ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .map_err(DialError::transient)?;
            let (sink, stream) = ws.split();
            let stream = stream.try_filter_map(|m| async move {
                Ok(match m {
                    Message::Binary(b) => Some(b.to_vec()),
                    _ => None,
                })
            });
            let sink = sink.with(|b: Vec<u8>| async move {
                Ok::<_, tungstenite::Error>(Message::Binary(b.into()))
            });
            Ok(Transport::new(Box::pin(stream), Box::pin(sink)))
        })
    }
}
