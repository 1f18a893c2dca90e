//! Responses: the reply tone and its transcript, streamed in paced deltas; the end-call
//! function calls (end-call and scripted ones); cancellation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use switchboard_actors::realtime::{AudioFormat, Dialect, ResponseStatus, TokenUsage};
use tokio::time::Instant;

use super::super::config::Pace;
use super::super::control::Moment;
use super::super::log::{ResponseKind, ResponseLog, ResponseOutcome};
use super::super::vad::{bytes_per_ms, tone_bytes};
use super::{END_CALL, Out, Session, Streaming};
use crate::stamp::{self, Stamp};

/// Set in the stamp `seq` of a reply's last delta.
pub const DELTA_LAST: u32 = 1 << 31;

/// Extra reply length for reply `n` of connection `id`: a fixed pseudo-random share of `spread`.
fn spread(id: usize, n: u32, spread: u32) -> u32 {
    if spread == 0 {
        return 0;
    }
    // splitmix64 of (id, n): cheap, repeatable, well mixed.
    let mut x = (id as u64) << 32 ^ u64::from(n) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x % (u64::from(spread) + 1)) as u32
}

/// Arguments of the peer's [`END_CALL`] call.
const END_CALL_ARGUMENTS: &str = r#"{"reason":"caller said goodbye"}"#;

/// Transcript of the goodbye reply.
const GOODBYE: &str = "Goodbye from the agent.";

impl Session {
    /// Starts the next response: the goodbye, the end-call function call, or a reply.
    pub(super) fn respond(&mut self, now: Instant, out: &mut Vec<Out>) {
        if self.goodbye_pending {
            self.goodbye_pending = false;
            self.start_audio(GOODBYE.to_owned(), self.config.goodbye_ms, now, out);
        } else if !self.end_call_fired
            && self.utterances > 0
            && self.config.end_call_on_utterance == Some(self.utterances)
        {
            self.end_call_fired = true;
            self.function_call(out);
        } else if let Some(scripted) = self
            .config
            .function_calls
            .iter()
            .find(|s| s.on_utterance == self.utterances && self.utterances > 0)
            .filter(|s| !self.scripted_fired.contains(&s.on_utterance))
            .cloned()
        {
            self.scripted_fired.insert(scripted.on_utterance);
            self.function_calls(out, &scripted.calls);
        } else {
            self.replies += 1;
            let mut transcript = format!(
                "Agent reply {} to utterance {}",
                self.replies, self.utterances
            );
            if let Some(output) = self.last_output.take() {
                let quoted: String = output.chars().take(300).collect();
                transcript.push_str(&format!(", after the tool said: {quoted}"));
            }
            let mut ms =
                self.config.reply_ms + spread(self.id, self.replies, self.config.reply_ms_spread);
            if self.stamps.is_some() {
                // Whole deltas only: a stub too short for a stamp would go unchecked.
                ms = ms.next_multiple_of(self.config.delta_ms.max(1));
            }
            self.start_audio(transcript, ms, now, out);
        }
    }

    fn function_call(&mut self, out: &mut Vec<Out>) {
        let call_id =
            self.function_calls(out, &[(END_CALL.to_owned(), END_CALL_ARGUMENTS.to_owned())]);
        self.end_call_id = call_id.into_iter().next();
    }

    /// One response calling `calls` (name, arguments), each its own output item; returns their
    /// call ids.
    fn function_calls(&mut self, out: &mut Vec<Out>, calls: &[(String, String)]) -> Vec<String> {
        let response_id = self.next_id("resp");
        out.push(Out::Text(self.enc.response_created(&response_id)));
        let mut ids = Vec::with_capacity(calls.len());
        for (index, (name, arguments)) in (0u32..).zip(calls) {
            let item_id = self.next_id("item");
            let call_id = self.next_id("call");
            let mut item = json!({
                "id": item_id, "object": "realtime.item", "type": "function_call",
                "status": "in_progress", "call_id": call_id, "name": name, "arguments": "",
            });
            let enc = &mut self.enc;
            out.push(Out::Text(enc.output_item_added(&response_id, index, &item)));
            out.push(Out::Text(enc.function_call_arguments_delta(
                &response_id,
                &item_id,
                &call_id,
                arguments,
            )));
            out.push(Out::Text(enc.function_call_arguments_done(
                &response_id,
                &item_id,
                &call_id,
                name,
                arguments,
            )));
            item["status"] = "completed".into();
            item["arguments"] = arguments.as_str().into();
            out.push(Out::Text(enc.output_item_done(&response_id, index, &item)));
            self.calls.insert(call_id.clone());
            self.last_item = Some(item_id.clone());
            let (response_id, name, arguments) =
                (response_id.clone(), name.clone(), arguments.clone());
            let logged = call_id.clone();
            self.log(|log| {
                log.responses.push(ResponseLog {
                    response_id,
                    item_id,
                    kind: ResponseKind::FunctionCall {
                        name,
                        call_id: logged,
                        arguments,
                    },
                    transcript: String::new(),
                    audio_ms_sent: 0,
                    deltas_sent: 0,
                    outcome: ResponseOutcome::Completed,
                    usage: Some(usage_of(0, 0)),
                })
            });
            ids.push(call_id);
        }
        out.push(Out::Text(self.enc.response_done_with_usage(
            &response_id,
            ResponseStatus::Completed,
            None,
            usage_of(0, 0),
        )));
        self.responses += 1;
        ids
    }

    fn start_audio(&mut self, transcript: String, ms: u32, now: Instant, out: &mut Vec<Out>) {
        let response_id = self.next_id("resp");
        let item_id = self.next_id("item");
        let bytes_per_ms = bytes_per_ms(self.output);
        let item = json!({
            "id": item_id, "object": "realtime.item", "type": "message",
            "status": "in_progress", "role": "assistant", "content": [],
        });
        out.push(Out::Text(self.enc.response_created(&response_id)));
        out.push(Out::Text(self.enc.output_item_added(
            &response_id,
            0,
            &item,
        )));
        self.audio_items.insert(item_id.clone(), 0);
        self.last_item = Some(item_id.clone());
        let log_index = self.responses;
        self.responses += 1;
        let stamp_stream = self.stamps.as_mut().map_or(0, |stamps| {
            stamps.responses = stamps.responses.wrapping_add(1);
            stamps.responses
        });
        self.log(|log| {
            log.responses.push(ResponseLog {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                kind: ResponseKind::Audio,
                transcript: transcript.clone(),
                audio_ms_sent: 0,
                deltas_sent: 0,
                outcome: ResponseOutcome::InProgress,
                usage: None,
            })
        });
        self.active = Some(Streaming {
            response_id,
            item_id,
            words: transcript.split_inclusive(' ').map(str::to_owned).collect(),
            transcript,
            audio: tone_bytes(self.output, self.config.tone_hz, ms),
            bytes_per_ms,
            chunk: bytes_per_ms * self.config.delta_ms.max(1) as usize,
            offset: 0,
            deltas: 0,
            spoken: String::new(),
            next_at: now,
            log_index,
            stamp_stream,
        });
        match self.config.pace {
            Pace::Burst => {
                while self.active.is_some() && !self.closed {
                    self.emit_delta(out);
                }
            }
            Pace::RealTime | Pace::Faster(_) => self.emit_delta(out),
        }
    }

    /// Sends the next audio delta (and transcript word) of the active reply; finishes it
    /// after the last one.
    pub(super) fn emit_delta(&mut self, out: &mut Vec<Out>) {
        let interval = self.config.pace.interval(self.config.delta_ms);
        let Some(s) = self.active.as_mut() else {
            return;
        };
        let end = (s.offset + s.chunk).min(s.audio.len());
        self.probe.count_delta();
        let audio = if self.stamps.is_some() && self.output == AudioFormat::G711Ulaw {
            // The delta's number from 0; the last one of the reply has the top bit set.
            let last = if end == s.audio.len() { DELTA_LAST } else { 0 };
            if let Some(stamps) = &mut self.stamps {
                stamps.delta_sent(s.stamp_stream, s.deltas);
            }
            self.scratch.clear();
            self.scratch.extend_from_slice(&s.audio[s.offset..end]);
            Stamp {
                stream: s.stamp_stream,
                seq: s.deltas | last,
                sent_us: stamp::now_us(),
            }
            .write(&mut self.scratch);
            BASE64.encode(&self.scratch)
        } else {
            BASE64.encode(&s.audio[s.offset..end])
        };
        s.offset = end;
        s.deltas += 1;
        s.next_at += interval;
        out.push(Out::Text(self.enc.audio_delta(
            &s.response_id,
            &s.item_id,
            &audio,
        )));
        if let Some(word) = s.words.pop_front() {
            out.push(Out::Text(self.enc.transcript_delta(
                &s.response_id,
                &s.item_id,
                &word,
            )));
            s.spoken.push_str(&word);
        }
        let sent_ms = (s.offset / s.bytes_per_ms) as u64;
        self.audio_items.insert(s.item_id.clone(), sent_ms);
        let (index, deltas, first, done) = (
            s.log_index,
            s.deltas,
            s.deltas == 1,
            s.offset >= s.audio.len(),
        );
        self.log(|log| {
            if let Some(response) = log.responses.get_mut(index) {
                response.audio_ms_sent = sent_ms;
                response.deltas_sent = deltas;
            }
        });
        if first && let Some(failure) = self.control.take(self.id, Moment::FirstDelta) {
            self.took(failure);
            self.abort();
            out.push(Out::Drop);
        } else if done {
            self.finish(out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Out>) {
        let Some(mut s) = self.active.take() else {
            return;
        };
        let enc = &mut self.enc;
        for word in s.words.drain(..) {
            out.push(Out::Text(enc.transcript_delta(
                &s.response_id,
                &s.item_id,
                &word,
            )));
        }
        out.push(Out::Text(enc.audio_done(&s.response_id, &s.item_id)));
        out.push(Out::Text(enc.transcript_done(
            &s.response_id,
            &s.item_id,
            &s.transcript,
        )));
        let item = assistant_item(enc.dialect(), &s.item_id, "completed", &s.transcript);
        out.push(Out::Text(enc.output_item_done(&s.response_id, 0, &item)));
        let usage = usage_of(
            s.offset / s.bytes_per_ms.max(1),
            s.transcript.split_whitespace().count(),
        );
        out.push(Out::Text(enc.response_done_with_usage(
            &s.response_id,
            ResponseStatus::Completed,
            None,
            usage,
        )));
        self.set_outcome(s.log_index, ResponseOutcome::Completed);
        self.set_usage(s.log_index, usage);
    }

    /// Cancels the active reply (if any) with `reason`.
    pub(super) fn cancel(&mut self, reason: &str, out: &mut Vec<Out>) {
        let Some(s) = self.active.take() else {
            return;
        };
        let item = assistant_item(self.enc.dialect(), &s.item_id, "incomplete", &s.spoken);
        out.push(Out::Text(self.enc.output_item_done(
            &s.response_id,
            0,
            &item,
        )));
        let usage = usage_of(
            s.offset / s.bytes_per_ms.max(1),
            s.spoken.split_whitespace().count(),
        );
        out.push(Out::Text(self.enc.response_done_with_usage(
            &s.response_id,
            ResponseStatus::Cancelled,
            Some(reason),
            usage,
        )));
        self.set_usage(s.log_index, usage);
        self.set_outcome(
            s.log_index,
            ResponseOutcome::Cancelled {
                reason: reason.to_owned(),
            },
        );
    }
}

/// An assistant audio message item with its transcript.
fn assistant_item(dialect: Dialect, item_id: &str, status: &str, transcript: &str) -> Value {
    let part = match dialect {
        Dialect::Ga => "output_audio",
        Dialect::Beta => "audio",
    };
    json!({
        "id": item_id, "object": "realtime.item", "type": "message", "status": status,
        "role": "assistant", "content": [{ "type": part, "transcript": transcript }],
    })
}

/// The tokens a response reports: a fixed prompt, and its audio (20 tokens a second) and words.
fn usage_of(audio_ms: usize, words: usize) -> TokenUsage {
    TokenUsage {
        input_tokens: 120,
        output_tokens: (audio_ms / 50 + words) as u64,
    }
}
