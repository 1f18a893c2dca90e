//! The receiving half of [`MediaSession`]: what Twilio does with each engine frame (play media,
//! echo marks when their audio has played, flush on `clear`, count and ignore anything invalid),
//! and the waits that read the socket while the sending half is idle.

use futures_util::StreamExt;
use switchboard_actors::twilio::{self as codec, Outbound};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use super::MediaSession;
use crate::realtime_peer::DELTA_LAST;
use crate::stamp::{self, Stamp};
use crate::twilio_caller::{CallerError, Event};

impl MediaSession {
    /// Waits for one socket message, the next mark's due time, or `deadline`, whichever is first,
    /// and handles it.
    pub(super) async fn pump_once(&mut self, deadline: Instant) -> Result<(), CallerError> {
        self.fire_due_marks().await?;
        if self.ended {
            return Ok(());
        }
        let mut wake = deadline;
        if self.writable
            && let Some(due) = self.playback.next_due()
        {
            wake = wake.min(self.clock.at(due));
        }
        tokio::select! {
            message = self.ws.next() => self.on_message(message).await?,
            () = tokio::time::sleep_until(wake) => {}
        }
        self.fire_due_marks().await
    }

    /// Waits (bounded by `close_timeout`) for the socket to end, handling what still arrives.
    pub(super) async fn drain(&mut self) -> Result<(), CallerError> {
        let deadline = Instant::now() + self.close_timeout;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(message) => self.on_message(message).await?,
                Err(_) => {
                    self.ended = true;
                    self.record(Event::CloseTimedOut);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn fire_due_marks(&mut self) -> Result<(), CallerError> {
        if !self.writable {
            return Ok(());
        }
        let now = self.clock.now_ms();
        while let Some((name, _due)) = self.playback.pop_due(now) {
            self.echo(name, false).await?;
        }
        Ok(())
    }

    async fn echo(&mut self, name: String, cleared: bool) -> Result<(), CallerError> {
        let seq = self.next_seq();
        codec::encode_mark_echo(&self.report.stream_sid, seq, &name, &mut self.out);
        if self.transmit_out_raw().await? {
            self.report.marks_echoed += 1;
            self.report.marks_cleared += u64::from(cleared);
            self.record(Event::MarkEchoed { name, cleared });
        } else {
            self.report.marks_unechoed += 1;
        }
        Ok(())
    }

    async fn on_message(
        &mut self,
        message: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), CallerError> {
        match message {
            None => {
                let ours = self.close_sent || !self.writable;
                self.stop_writing();
                self.ended = true;
                if !ours && self.report.close_code.is_none() {
                    self.report.engine_hung_up = true;
                    self.record(Event::EngineClosed {
                        code: None,
                        reason: "connection ended without a close frame".into(),
                    });
                }
            }
            Some(Err(e)) => self.socket_failed(&e),
            Some(Ok(Message::Text(text))) => {
                self.report.frames_received += 1;
                self.on_text(text.as_str()).await?;
            }
            Some(Ok(Message::Binary(bytes))) => {
                self.report.frames_received += 1;
                self.report.binary_frames += 1;
                self.record(Event::BinaryFrame { len: bytes.len() });
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map_or((None, String::new()), |f| {
                    (Some(u16::from(f.code)), f.reason.to_string())
                });
                self.report.close_code = code;
                if self.writable {
                    // The engine closed first: it hung up.
                    self.report.engine_hung_up = true;
                }
                self.stop_writing();
                self.record(Event::EngineClosed { code, reason });
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        }
        Ok(())
    }

    async fn on_text(&mut self, text: &str) -> Result<(), CallerError> {
        let now = self.clock.now_ms();
        let frame = match codec::parse_outbound(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.report.malformed_frames += 1;
                self.record(Event::MalformedFrame {
                    error: e.to_string(),
                });
                return Ok(());
            }
        };
        let sid = match &frame {
            Outbound::Media { stream_sid, .. }
            | Outbound::Mark { stream_sid, .. }
            | Outbound::Clear { stream_sid } => stream_sid,
            Outbound::Unknown { event } => {
                self.report.unknown_frames += 1;
                let event = event.clone();
                self.record(Event::UnknownFrame { event });
                return Ok(());
            }
        };
        if *sid != self.report.stream_sid {
            self.report.foreign_stream_frames += 1;
            let stream_sid = sid.to_string();
            self.record(Event::ForeignStreamFrame { stream_sid });
            return Ok(());
        }
        match frame {
            Outbound::Media { .. } => {
                if let Err(e) = frame.decode_payload(&mut self.payload) {
                    self.report.malformed_frames += 1;
                    self.record(Event::MalformedFrame {
                        error: e.to_string(),
                    });
                    return Ok(());
                }
                let bytes = self.payload.len();
                self.report.media_frames_received += 1;
                self.report.agent_audio_bytes += bytes as u64;
                self.report.agent_audio_ms = self.report.agent_audio_bytes / 8;
                if !self.lean {
                    self.report.agent_audio.extend_from_slice(&self.payload);
                }
                if self.stamps.is_some() {
                    match Stamp::read(&self.payload) {
                        Some(s) => self.report.agent_stamps.frame(
                            s.stream,
                            s.seq & !DELTA_LAST,
                            s.seq & DELTA_LAST != 0,
                            s.age_us(stamp::now_us()),
                        ),
                        None => self.report.agent_stamps.unstamped += 1,
                    }
                }
                let buffered = self.playback.enqueue_audio(now, bytes);
                self.last_agent_media_ms = Some(now);
                self.record(Event::AgentMedia {
                    bytes,
                    buffered_ms: buffered.round() as u64,
                });
            }
            Outbound::Mark { name, .. } => {
                self.report.marks_received += 1;
                let name = name.into_owned();
                self.record(Event::MarkReceived { name: name.clone() });
                if self.playback.mark(now, &name) {
                    if self.writable {
                        self.echo(name, false).await?;
                    } else {
                        self.report.marks_unechoed += 1;
                    }
                }
            }
            Outbound::Clear { .. } => {
                self.report.clears_received += 1;
                self.report.agent_stamps.clear();
                let (dropped_bytes, flushed) = self.playback.clear(now);
                self.report.audio_cleared_bytes += dropped_bytes;
                self.record(Event::Clear {
                    dropped_bytes,
                    flushed_marks: flushed.len(),
                });
                for name in flushed {
                    if self.writable {
                        self.echo(name, true).await?;
                    } else {
                        self.report.marks_unechoed += 1;
                    }
                }
            }
            Outbound::Unknown { .. } => {}
        }
        Ok(())
    }
}
