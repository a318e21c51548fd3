//! The native driver: the client on tokio and tokio-tungstenite.
//!
//! One task runs the loop (inputs in, client outputs out, one timer); each
//! socket gets a task of its own that dials, then forwards frames both ways
//! until it closes or is told to. The loop never awaits a socket, so a slow
//! or dead socket cannot stall the timer or the application's commands.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::error::{ApiMisuse, Error};
use crate::model::Model;

use super::connection::{FlowConnection, FlowConnectionBuilder};
use super::driver::{Driver, Input, Outgoing, SocketReport, Step, Target};
use super::event::SocketId;
use super::queue::{UnboundedReceiver, UnboundedSender};

/// How long a closing socket may take to send its close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

impl<M: Model> FlowConnectionBuilder<M> {
    /// Starts the connection on the current tokio runtime and returns its
    /// handle at once; the first socket opens in the background.
    ///
    /// `ws://` URLs work as they are. For `wss://`, enable one of
    /// tokio-tungstenite's TLS features in your own `Cargo.toml` (for example
    /// `rustls-tls-webpki-roots`); features add up across a build.
    ///
    /// Fails without a `url`, with an invalid configuration, or outside a
    /// tokio runtime.
    pub fn connect(self) -> Result<FlowConnection<M>, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| ApiMisuse::Config("connect() must be called inside a tokio runtime"))?;
        let prepared = self.prepare()?;
        runtime.spawn(run(prepared.driver, prepared.inputs, prepared.target));
        Ok(prepared.handle)
    }
}

async fn run<M: Model>(
    mut driver: Driver<M>,
    mut inputs: UnboundedReceiver<Input>,
    target: Arc<Target>,
) {
    let reports = driver.reports();
    loop {
        let step = driver.flush(&target.url, |id, url, protocols, commands| {
            tokio::spawn(socket(id, url, protocols, commands, reports.clone()));
        });
        let Step::Wait(at) = step else { return };
        match tokio::time::timeout_at(at.into(), inputs.next()).await {
            Ok(Some(input)) => driver.input(input),
            Ok(None) => return,
            Err(_elapsed) => driver.timeout(),
        }
    }
}

/// One WebSocket, from dial to close.
async fn socket(
    id: SocketId,
    url: String,
    protocols: Vec<String>,
    mut commands: UnboundedReceiver<Outgoing>,
    reports: UnboundedSender<Input>,
) {
    let report = |r| {
        let _ = reports.unbounded_send(Input::Socket(id, r));
    };
    let closed = |reason: String| SocketReport::Closed { code: None, reason };
    let request = match request(&url, &protocols) {
        Ok(request) => request,
        Err(error) => return report(closed(error.to_string())),
    };
    let dial = pin!(tokio_tungstenite::connect_async(request));
    let ws = match select(dial, commands.next()).await {
        Either::Left((Ok((ws, _response)), _)) => ws,
        // The server answered with a status instead of switching protocols.
        Either::Left((Err(tungstenite::Error::Http(response)), _)) => {
            return report(SocketReport::Refused(response.status().as_u16()));
        }
        Either::Left((Err(error), _)) => return report(closed(error.to_string())),
        Either::Right(_) => return, // given up before it opened
    };
    report(SocketReport::Opened);
    let (mut sink, mut stream) = ws.split();
    loop {
        let next = match select(stream.next(), commands.next()).await {
            Either::Left((message, _)) => Either::Left(message),
            Either::Right((command, _)) => Either::Right(command),
        };
        match next {
            Either::Left(Some(Ok(Message::Binary(frame)))) => {
                report(SocketReport::Frame(Vec::from(frame)))
            }
            Either::Left(Some(Ok(Message::Close(frame)))) => {
                report(SocketReport::Closed {
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                });
                // Sends the close reply tungstenite has queued.
                let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
                return;
            }
            // Text frames are not part of the protocol; pings are answered
            // by tungstenite.
            Either::Left(Some(Ok(_))) => {}
            Either::Left(Some(Err(error))) => return report(closed(error.to_string())),
            Either::Left(None) => return report(closed("the connection ended".into())),
            Either::Right(Some(Outgoing::Frame(frame))) => {
                if let Err(error) = sink.send(Message::Binary(frame.into())).await {
                    return report(closed(error.to_string()));
                }
            }
            Either::Right(Some(Outgoing::Close { code, reason })) => {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                };
                let _ =
                    tokio::time::timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
                return;
            }
            Either::Right(None) => return,
        }
    }
}

/// The upgrade request: the URL, plus the offered subprotocols when a token
/// is set (checked as a header token by the builder).
fn request(url: &str, protocols: &[String]) -> Result<Request, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if !protocols.is_empty() {
        let offered = HeaderValue::from_str(&protocols.join(", "))
            .map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, offered);
    }
    Ok(request)
}
