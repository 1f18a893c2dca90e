//! The floor: the least a relay between Twilio and the realtime service can do, on the same
//! socket stack as the engine and the same codecs, in one task per call and nothing else: no
//! actors, no persistence, no recording, no signatures, µ-law passed through. The load test runs
//! the same callers and peer through it to read the engine's cost as a ratio to this floor.
//!
//! Same stack means the same upgrade: the Twilio socket is the engine's own
//! ([`media::handshake`], [`media::accept`]: tokio-tungstenite on hyper's upgraded connection,
//! with the engine's read buffer and frame limits), not warp's `ws()`, whose socket reads into a
//! 128 KiB buffer per call; the AI socket has the engine's settings too. Otherwise the ratio
//! would count a cheaper socket as engine cost, or the reverse.
//!
//! It answers the voice webhook with TwiML, and per media socket: on `start` opens the realtime
//! socket and sends `session.update` (frames wait in the socket meanwhile), turns each `media`
//! into `input_audio_buffer.append`, each audio delta into Twilio `media` + `mark`, and on
//! `speech_started` while agent audio is unplayed sends Twilio `clear` and drops the rest of
//! that item's deltas (the peer cancels the response itself).
//!
//! Run it with `switchboard-sim floor-relay --realtime-url URL`; it prints `listening on ADDR`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard::twilio::media::{self, MediaSocket};
use switchboard_actors::realtime::{
    self, AudioFormat, Dialect, ServerEvent, SessionConfig, connect_url, parse_server_event,
};
use switchboard_actors::twilio::{self, Inbound};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use warp::Filter;

/// Serves the floor relay on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    realtime_url: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let voice = warp::path!("twilio" / "voice")
        .and(warp::post())
        .map(move || {
            let call_id = uuid::Uuid::new_v4();
            warp::reply::with_header(
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect>\
                     <Stream url=\"ws://{addr}/twilio/media\">\
                     <Parameter name=\"call_id\" value=\"{call_id}\"/></Stream>\
                     </Connect></Response>"
                ),
                "content-type",
                "text/xml",
            )
        });
    let media = warp::path!("twilio" / "media")
        .and(media::handshake())
        .map(move |handshake| {
            let url = realtime_url.clone();
            media::accept(handshake, move |socket| async move {
                if let Err(err) = relay(socket, &url).await {
                    tracing::warn!(%err, "floor relay: call failed");
                }
            })
        });
    warp::serve(voice.or(media))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}

/// Binds 127.0.0.1:0, prints `listening on ADDR` and serves until SIGTERM/SIGINT.
pub async fn main(realtime_url: String) -> anyhow::Result<()> {
    let shutdown = switchboard::app::shutdown_signal();
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    println!("listening on {addr}");
    serve(listener, realtime_url, shutdown).await
}

/// One call: the Twilio socket and, once `start` came, the realtime socket.
async fn relay(socket: MediaSocket, realtime_url: &str) -> anyhow::Result<()> {
    let (mut twilio_tx, mut twilio_rx) = socket.split();
    // Until `start`, nothing to relay.
    let stream_sid = loop {
        let Some(message) = twilio_rx.next().await else {
            return Ok(());
        };
        if let Message::Text(text) = message?
            && let Ok(Inbound::Start(start)) = twilio::parse_inbound(&text)
        {
            break start.stream_sid;
        }
    };
    let session = SessionConfig {
        audio_format: AudioFormat::G711Ulaw,
        ..SessionConfig::for_dialect(Dialect::Ga)
    };
    let url = connect_url(realtime_url, &session.model);
    // The engine's realtime socket settings.
    let config = Some(switchboard_actors::call::ai_socket_config());
    let (ai, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), config, true).await?;
    let (mut ai_tx, mut ai_rx) = ai.split();
    ai_tx
        .send(Message::text(session.session_update(Dialect::Ga)))
        .await?;

    let mut frame = String::with_capacity(512);
    let mut mark = String::with_capacity(128);
    let mut marks_sent = 0u64;
    let mut marks_echoed = 0u64;
    // The item whose audio was forwarded last, and the one a barge-in cut.
    let mut playing = String::new();
    let mut interrupted = String::new();
    loop {
        tokio::select! {
            message = twilio_rx.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                match twilio::parse_inbound(&text) {
                    Ok(Inbound::Media(media)) => {
                        realtime::encode_audio_append(media.payload_b64, &mut frame);
                        ai_tx.send(Message::text(frame.as_str())).await?;
                    }
                    Ok(Inbound::Mark { .. }) => marks_echoed += 1,
                    Ok(Inbound::Stop { .. }) => break,
                    _ => {}
                }
            }
            event = ai_rx.next() => {
                let Some(Ok(Message::Text(text))) = event else { break };
                match parse_server_event(&text) {
                    Ok(ServerEvent::AudioDelta { item_id, delta_b64, .. }) => {
                        if *item_id == *interrupted {
                            continue;
                        }
                        if *item_id != *playing {
                            playing.clear();
                            playing.push_str(&item_id);
                        }
                        marks_sent += 1;
                        twilio::encode_media_base64(&stream_sid, &delta_b64, &mut frame);
                        twilio::encode_mark(&stream_sid, &marks_sent.to_string(), &mut mark);
                        twilio_tx.feed(Message::text(frame.as_str())).await?;
                        twilio_tx.send(Message::text(mark.as_str())).await?;
                    }
                    Ok(ServerEvent::SpeechStarted { .. }) if marks_echoed < marks_sent => {
                        twilio::encode_clear(&stream_sid, &mut frame);
                        twilio_tx.send(Message::text(frame.as_str())).await?;
                        std::mem::swap(&mut interrupted, &mut playing);
                        playing.clear();
                    }
                    _ => {}
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), ai_tx.close()).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), twilio_tx.close()).await;
    Ok(())
}
