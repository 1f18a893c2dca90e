//! A TwiML interpreter that follows the engine's voice documents the way Twilio does: IVR menus
//! (`<Gather>`), voicemail (`<Record>`), `<Redirect>`s, and the fallback verbs Twilio runs after
//! `</Connect>` once the engine closes the media stream.
//!
//! [`follow`] posts the voice webhook exactly as [`super::TwilioCaller::post_webhook`] does, then
//! runs the verbs in order. At each `<Gather>` the simulated caller takes the next [`Answer`] of
//! its [`CallerInput`]; keys or speech are posted to the action URL and the call continues with the
//! TwiML it answers, silence runs the verbs after the `<Gather>`. The run stops at the end of the
//! document ([`IvrEnd::Completed`]), `<Hangup>`/`<Reject>`, `<Dial>` (the far end is not
//! simulated), or `<Connect><Stream>` ([`IvrEnd::Stream`]: open a [`super::MediaSession`] on its
//! [`Twiml`], then give [`continue_after`] the verbs that follow).
//!
//! Every request Twilio would make is made, signed with `X-Twilio-Signature` over the URL Twilio
//! knows (relative URLs resolved against the current document's URL on the engine's public host;
//! the request itself goes to [`CallerConfig::engine`]). Nothing waits: `<Say>`, `<Play>` and
//! `<Pause>` are only logged ([`IvrRun::steps`]).
//!
//! The interpreter itself (the `interpreter` child module) does no I/O: it hands out the next
//! request to make and is fed the documents that come back; [`follow`] is the thin HTTP shell.

mod interpreter;

use std::collections::VecDeque;

use url::Url;

use super::twiml::{Twiml, Verb};
use super::{CallerConfig, CallerError, SignedRequest, http_client, request_error, send_signed};
use interpreter::{Expect, Interpreter, Next};

/// Most TwiML documents one call may fetch (the voice webhook included) before
/// [`CallerError::DocumentLimit`]: loop protection.
pub const MAX_DOCUMENTS: usize = 50;

/// What the caller does at one `<Gather>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Presses these keys. As Twilio, only the keys before the first `finishOnKey` key count,
    /// and at most `numDigits` of them; ignored unless `input` has `dtmf`.
    Digits(String),
    /// Says something; ignored unless `input` has `speech`.
    Speech {
        /// `SpeechResult`.
        text: String,
        /// `Confidence`, 0.0–1.0.
        confidence: f32,
    },
    /// Says and presses nothing until the `<Gather>` times out.
    Silence,
}

/// How the caller ends a `<Record>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordEnd {
    /// Hangs up after the message (`Digits=hangup`), as most voicemail callers do. The call is
    /// over: Twilio still requests the action URL, but runs none of the TwiML it answers.
    #[default]
    HangUp,
    /// Presses a key (`Digits=<key>`); the action's TwiML (or the next verb) continues the call.
    Key(char),
}

/// The simulated caller's side of an IVR: its answers, in order, and how it leaves voicemail.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerInput {
    /// One per `<Gather>`, used in order; [`Answer::Silence`] once they run out.
    pub answers: VecDeque<Answer>,
    /// `RecordingDuration` of every `<Record>`, in seconds (capped by `maxLength`). Default: 7.
    pub recording_duration_s: u32,
    /// How each `<Record>` ends.
    pub record_end: RecordEnd,
}

impl Default for CallerInput {
    fn default() -> Self {
        CallerInput {
            answers: VecDeque::new(),
            recording_duration_s: 7,
            record_end: RecordEnd::HangUp,
        }
    }
}

impl CallerInput {
    /// A caller who answers nothing: every `<Gather>` times out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an answer.
    pub fn answer(mut self, answer: Answer) -> Self {
        self.answers.push_back(answer);
        self
    }

    /// Appends key presses.
    pub fn digits(self, keys: impl Into<String>) -> Self {
        self.answer(Answer::Digits(keys.into()))
    }

    /// Appends an utterance.
    pub fn speech(self, text: impl Into<String>, confidence: f32) -> Self {
        self.answer(Answer::Speech {
            text: text.into(),
            confidence,
        })
    }

    /// Appends a time-out.
    pub fn silence(self) -> Self {
        self.answer(Answer::Silence)
    }

    /// Sets `RecordingDuration`.
    pub fn recording_duration(mut self, seconds: u32) -> Self {
        self.recording_duration_s = seconds;
        self
    }

    /// Sets how recordings end.
    pub fn record_end(mut self, end: RecordEnd) -> Self {
        self.record_end = end;
        self
    }
}

/// One thing the caller heard or did, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum IvrStep {
    /// A `<Say>` (also one nested in a `<Gather>`).
    Said {
        /// The words.
        text: String,
        /// `voice`.
        voice: Option<String>,
        /// `language`.
        language: Option<String>,
    },
    /// A `<Play>`, its URL resolved.
    Played {
        /// The audio URL.
        url: String,
    },
    /// A `<Pause>`.
    Paused {
        /// Its length.
        seconds: u32,
    },
    /// A `<Gather>` got input, as submitted (keys cut at `finishOnKey` and `numDigits`).
    Gathered(Answer),
    /// A `<Gather>` got nothing it accepts; the verbs after it run.
    GatherTimedOut,
    /// A `<Record>` took a message.
    Recorded {
        /// `RecordingSid`.
        recording_sid: String,
        /// `RecordingDuration`.
        duration_s: u32,
        /// Whether a beep was played first.
        beep: bool,
    },
    /// A `<Redirect>` to this (absolute) URL.
    Redirected {
        /// The URL.
        url: String,
    },
    /// A `<Dial>` to this target.
    Dialled {
        /// What was dialled.
        target: String,
    },
    /// A verb this simulator does not run ([`Verb::Other`]), skipped.
    Skipped {
        /// Its element name.
        verb: String,
    },
}

/// How the interpreted part of the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrEnd {
    /// The last document ran out of verbs: Twilio hangs up.
    Completed,
    /// `<Hangup>`, `<Reject>`, or the caller hung up at the end of a `<Record>`.
    HungUp,
    /// `<Dial>`: the call is bridged elsewhere (not simulated).
    Dialled {
        /// What was dialled.
        target: String,
    },
    /// `<Connect><Stream>`: open the media stream on `twiml`; when the engine closes it, Twilio
    /// runs `after` ([`continue_after`]). Their URLs are already absolute, and a `<Connect
    /// action>` shows as a single `<Redirect>` to that action (Twilio requests it instead of
    /// running the verbs after `</Connect>`).
    Stream {
        /// The stream to open.
        twiml: Twiml,
        /// The verbs Twilio runs when the stream ends.
        after: Vec<Verb>,
    },
}

/// What [`follow`] or [`continue_after`] saw.
#[derive(Debug, Clone, PartialEq)]
pub struct IvrRun {
    /// What the caller heard and did, in order.
    pub steps: Vec<IvrStep>,
    /// How it ended.
    pub end: IvrEnd,
    /// Every request made, in order: the URL Twilio knows (absolute, on the public host; for a
    /// GET with the parameters in its query) and the parameters sent.
    pub requests: Vec<(String, Vec<(String, String)>)>,
}

impl IvrRun {
    /// The text of every `<Say>`, in order.
    pub fn said(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                IvrStep::Said { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The URLs requested, in order.
    pub fn urls(&self) -> Vec<&str> {
        self.requests.iter().map(|(u, _)| u.as_str()).collect()
    }
}

/// Places the call's TwiML part: posts the voice webhook (as
/// [`super::TwilioCaller::post_webhook`]) and runs what it answers, as Twilio would, with `input`
/// as the caller.
pub async fn follow(config: &CallerConfig, input: CallerInput) -> Result<IvrRun, CallerError> {
    run(config, Interpreter::for_webhook(config, input)?).await
}

/// Runs `after` (the [`IvrEnd::Stream`] verbs) as Twilio does once the engine has closed the
/// media stream: a fallback apology, voicemail, a redirect… URLs still relative are resolved
/// against the voice webhook's URL. The document limit starts afresh.
pub async fn continue_after(
    config: &CallerConfig,
    after: Vec<Verb>,
    input: CallerInput,
) -> Result<IvrRun, CallerError> {
    run(config, Interpreter::resume(config, input, after)?).await
}

/// The HTTP shell: makes each request the interpreter asks for and feeds back the answers.
async fn run(config: &CallerConfig, mut ivr: Interpreter) -> Result<IvrRun, CallerError> {
    let client = http_client(config)
        .map_err(|e| request_error("TwiML request", config.engine.as_str(), e))?;
    loop {
        match ivr.next()? {
            Next::End(end) => return Ok(ivr.finish(end)),
            Next::Fetch(fetch) => {
                let target = engine_url(config, &fetch.url)?;
                tracing::debug!(url = %fetch.url, %target, what = fetch.what, "Twilio request");
                let answer = send_signed(
                    &client,
                    config,
                    SignedRequest {
                        what: fetch.what,
                        method: fetch.method,
                        target: target.as_str(),
                        signed_url: fetch.url.as_str(),
                        params: &fetch.params,
                    },
                )
                .await?;
                match fetch.expect {
                    Expect::Twiml => ivr.handle_document(fetch.document_url, &answer.twiml()?)?,
                    Expect::Ignored if (200..300).contains(&answer.status) => {}
                    Expect::Ignored => {
                        return Err(CallerError::Webhook {
                            status: answer.status,
                            body: answer.body,
                        });
                    }
                }
            }
        }
    }
}

/// Where a request for `url` (as Twilio knows it) is really sent: on `engine`'s scheme, host and
/// port when `url` is on the public host, as the stream URL is dialled
/// ([`CallerConfig::dial_url`]).
fn engine_url(config: &CallerConfig, url: &Url) -> Result<Url, CallerError> {
    let public = &config.public_url;
    let on_public_host = url.scheme() == public.scheme()
        && url.host_str() == public.host_str()
        && url.port_or_known_default() == public.port_or_known_default();
    if !on_public_host || config.engine == config.public_url {
        return Ok(url.clone());
    }
    let mut target = url.clone();
    let bad =
        |what: &str| CallerError::Config(format!("cannot request {what} of {}", config.engine));
    target
        .set_scheme(config.engine.scheme())
        .map_err(|()| bad("the scheme"))?;
    target
        .set_host(config.engine.host_str())
        .map_err(|_| bad("the host"))?;
    target
        .set_port(config.engine.port())
        .map_err(|()| bad("the port"))?;
    Ok(target)
}
