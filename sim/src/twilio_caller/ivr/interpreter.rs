//! The sans-IO core of the TwiML interpreter: the current document's verbs, the caller's input
//! and the run's log. [`Interpreter::next`] runs verbs until a request must be made
//! ([`Next::Fetch`]) or the call ends ([`Next::End`]); the shell makes the request and hands a
//! TwiML answer back with [`Interpreter::handle_document`]. No sockets, no clocks.

use std::collections::VecDeque;

use url::Url;

use super::{Answer, CallerInput, IvrEnd, IvrRun, IvrStep, MAX_DOCUMENTS, RecordEnd};
use crate::twilio_caller::twiml::{Method, Verb, verbs};
use crate::twilio_caller::{CallerConfig, CallerError, new_sid};

fn parse_url(url: &str) -> Result<Url, CallerError> {
    Url::parse(url).map_err(|e| CallerError::Config(format!("URL {url:?}: {e}")))
}

/// `href` (relative or absolute) against the document at `base`; only http(s) is requestable.
fn resolve(base: &Url, href: &str) -> Result<Url, CallerError> {
    let url = base
        .join(href.trim())
        .map_err(|e| CallerError::BadTwiml(format!("URL {href:?}: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(CallerError::BadTwiml(format!(
            "URL {href:?} has scheme {other}, not http or https"
        ))),
    }
}

/// `verb` with its URLs made absolute against `base` (a `<Gather>` without action gets `base`,
/// its default), so it can run outside its document.
fn absolute(verb: Verb, base: &Url) -> Result<Verb, CallerError> {
    let abs = |href: &str| resolve(base, href).map(String::from);
    let abs_opt = |href: Option<String>| href.map(|h| abs(&h)).transpose();
    Ok(match verb {
        Verb::Play { url } if !url.is_empty() => Verb::Play { url: abs(&url)? },
        Verb::Gather {
            action,
            method,
            input,
            num_digits,
            timeout_s,
            finish_on_key,
            language,
            hints,
            prompts,
        } => Verb::Gather {
            action: Some(abs(action.as_deref().unwrap_or(base.as_str()))?),
            method,
            input,
            num_digits,
            timeout_s,
            finish_on_key,
            language,
            hints,
            prompts: prompts
                .into_iter()
                .map(|p| absolute(p, base))
                .collect::<Result<_, _>>()?,
        },
        Verb::Record {
            action,
            method,
            max_length_s,
            play_beep,
            recording_status_callback,
            recording_status_callback_method,
            recording_status_callback_event,
        } => Verb::Record {
            action: abs_opt(action)?,
            method,
            max_length_s,
            play_beep,
            recording_status_callback: abs_opt(recording_status_callback)?,
            recording_status_callback_method,
            recording_status_callback_event,
        },
        Verb::Redirect { url, method } => Verb::Redirect {
            url: abs(&url)?,
            method,
        },
        Verb::Dial {
            target,
            action,
            method,
            timeout_s,
        } => Verb::Dial {
            target,
            action: abs_opt(action)?,
            method,
            timeout_s,
        },
        Verb::Connect {
            stream,
            action,
            method,
        } => Verb::Connect {
            stream,
            action: abs_opt(action)?,
            method,
        },
        other => other,
    })
}

/// Whether the answer body matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// 200 with TwiML, which the call continues with.
    Twiml,
    /// Any 2xx; Twilio ignores the body (status callbacks, the action after a hang-up).
    Ignored,
}

/// A request the interpreter wants made.
#[derive(Debug)]
pub(super) struct Fetch {
    pub(super) what: &'static str,
    pub(super) method: Method,
    /// As Twilio knows it, and signs it (a GET's parameters already in the query).
    pub(super) url: Url,
    /// The URL as written in the TwiML, resolved: the document's URL for what it answers.
    pub(super) document_url: Url,
    pub(super) params: Vec<(String, String)>,
    pub(super) expect: Expect,
}

/// What to do next.
#[derive(Debug)]
pub(super) enum Next {
    /// Make this request; give a [`Expect::Twiml`] answer to [`Interpreter::handle_document`].
    Fetch(Fetch),
    /// The call is over (for this simulator).
    End(IvrEnd),
}

/// The sans-IO core: the current document's verbs, the caller's input and the run's log.
pub(super) struct Interpreter {
    /// `CallSid`, `AccountSid`, `From`, `To`, `CallStatus=in-progress`, `ApiVersion`,
    /// `Direction`, then the configured extra parameters: on every request but status callbacks.
    base_params: Vec<(String, String)>,
    call_sid: String,
    account_sid: String,
    input: CallerInput,
    /// The rest of the current document.
    verbs: VecDeque<Verb>,
    /// The URL of the current document, as Twilio knows it (relative URLs resolve against it).
    document_url: Url,
    /// Requests to make before running another verb.
    outbox: VecDeque<Fetch>,
    /// How the call ends once the outbox is empty.
    ending: Option<IvrEnd>,
    documents: usize,
    steps: Vec<IvrStep>,
    requests: Vec<(String, Vec<(String, String)>)>,
}

impl Interpreter {
    /// A call that starts by posting the voice webhook.
    pub(super) fn for_webhook(
        config: &CallerConfig,
        input: CallerInput,
    ) -> Result<Self, CallerError> {
        let mut ivr = Self::resume(config, input, Vec::new())?;
        let url = ivr.document_url.clone();
        let webhook = ivr.fetch(
            "voice webhook",
            Method::Post,
            url,
            config.webhook_params(),
            Expect::Twiml,
        );
        ivr.outbox.push_back(webhook);
        Ok(ivr)
    }

    /// A call that goes on with `verbs` in hand; URLs still relative resolve against the voice
    /// webhook's.
    pub(super) fn resume(
        config: &CallerConfig,
        input: CallerInput,
        verbs: Vec<Verb>,
    ) -> Result<Self, CallerError> {
        let document_url = parse_url(&config.signed_webhook_url())?;
        let mut base_params = config.webhook_params();
        for (k, v) in &mut base_params {
            if k == "CallStatus" {
                *v = "in-progress".into();
            }
        }
        Ok(Interpreter {
            base_params,
            call_sid: config.call_sid.clone(),
            account_sid: config.account_sid.clone(),
            input,
            verbs: verbs.into(),
            document_url,
            outbox: VecDeque::new(),
            ending: None,
            documents: 0,
            steps: Vec::new(),
            requests: Vec::new(),
        })
    }

    /// The TwiML answered to the last [`Expect::Twiml`] request, from `url`: it replaces the
    /// rest of the current document.
    pub(super) fn handle_document(&mut self, url: Url, xml: &str) -> Result<(), CallerError> {
        self.verbs = verbs(xml)?.into();
        self.document_url = url;
        Ok(())
    }

    pub(super) fn finish(self, end: IvrEnd) -> IvrRun {
        IvrRun {
            steps: self.steps,
            end,
            requests: self.requests,
        }
    }

    /// Runs verbs until a request must be made or the call ends.
    pub(super) fn next(&mut self) -> Result<Next, CallerError> {
        loop {
            if let Some(fetch) = self.outbox.pop_front() {
                return self.send(fetch).map(Next::Fetch);
            }
            if let Some(end) = self.ending.take() {
                return Ok(Next::End(end));
            }
            let Some(verb) = self.verbs.pop_front() else {
                return Ok(Next::End(IvrEnd::Completed));
            };
            if let Some(end) = self.run_verb(verb)? {
                return Ok(Next::End(end));
            }
        }
    }

    /// Logs `fetch` and, for a document, counts it against [`MAX_DOCUMENTS`].
    fn send(&mut self, fetch: Fetch) -> Result<Fetch, CallerError> {
        if fetch.expect == Expect::Twiml {
            if self.documents >= MAX_DOCUMENTS {
                return Err(CallerError::DocumentLimit {
                    limit: MAX_DOCUMENTS,
                    url: fetch.url.to_string(),
                });
            }
            self.documents += 1;
        }
        self.requests
            .push((fetch.url.to_string(), fetch.params.clone()));
        Ok(fetch)
    }

    /// A request to `href` (resolved against the current document) with the base parameters and
    /// `extra`. For a GET the parameters go in the query, which is then part of the URL.
    fn request(
        &self,
        what: &'static str,
        method: Method,
        href: &str,
        extra: Vec<(String, String)>,
        expect: Expect,
    ) -> Result<Fetch, CallerError> {
        let mut params = self.base_params.clone();
        params.extend(extra);
        Ok(self.fetch(
            what,
            method,
            resolve(&self.document_url, href)?,
            params,
            expect,
        ))
    }

    fn fetch(
        &self,
        what: &'static str,
        method: Method,
        document_url: Url,
        params: Vec<(String, String)>,
        expect: Expect,
    ) -> Fetch {
        let mut url = document_url.clone();
        if method == Method::Get {
            url.query_pairs_mut().extend_pairs(params.iter());
        }
        Fetch {
            what,
            method,
            url,
            document_url,
            params,
            expect,
        }
    }

    /// Runs one verb; `Some` when it ends the call.
    fn run_verb(&mut self, verb: Verb) -> Result<Option<IvrEnd>, CallerError> {
        match verb {
            Verb::Say {
                text,
                voice,
                language,
            } => self.steps.push(IvrStep::Said {
                text,
                voice,
                language,
            }),
            Verb::Play { url } => {
                let url = if url.is_empty() {
                    url
                } else {
                    resolve(&self.document_url, &url)?.into()
                };
                self.steps.push(IvrStep::Played { url });
            }
            Verb::Pause { seconds } => self.steps.push(IvrStep::Paused { seconds }),
            Verb::Gather {
                action,
                method,
                input,
                num_digits,
                finish_on_key,
                prompts,
                ..
            } => {
                for prompt in prompts {
                    self.run_verb(prompt)?;
                }
                let answer = self.input.answers.pop_front().unwrap_or(Answer::Silence);
                let accepts = |kind: &str| input.split_whitespace().any(|t| t == kind);
                let extra = match answer {
                    Answer::Digits(keys) if accepts("dtmf") => {
                        let keys: String = keys
                            .chars()
                            .take_while(|c| !finish_on_key.contains(*c))
                            .take(num_digits.map_or(usize::MAX, |n| n as usize))
                            .collect();
                        (!keys.is_empty()).then(|| {
                            self.steps
                                .push(IvrStep::Gathered(Answer::Digits(keys.clone())));
                            vec![("Digits".to_owned(), keys)]
                        })
                    }
                    Answer::Speech { text, confidence } if accepts("speech") => {
                        let confidence = confidence.clamp(0.0, 1.0);
                        self.steps.push(IvrStep::Gathered(Answer::Speech {
                            text: text.clone(),
                            confidence,
                        }));
                        Some(vec![
                            ("SpeechResult".to_owned(), text),
                            ("Confidence".to_owned(), confidence.to_string()),
                        ])
                    }
                    _ => None,
                };
                match extra {
                    Some(extra) => {
                        let href = action.unwrap_or_else(|| self.document_url.to_string());
                        let fetch =
                            self.request("Gather action", method, &href, extra, Expect::Twiml)?;
                        self.outbox.push_back(fetch);
                    }
                    None => self.steps.push(IvrStep::GatherTimedOut),
                }
            }
            Verb::Record {
                action,
                method,
                max_length_s,
                play_beep,
                recording_status_callback,
                recording_status_callback_method,
                recording_status_callback_event,
            } => self.record(
                action,
                method,
                max_length_s,
                play_beep,
                recording_status_callback.map(|url| (url, recording_status_callback_method)),
                &recording_status_callback_event,
            )?,
            Verb::Redirect { url, method } => {
                let fetch = self.request("Redirect", method, &url, Vec::new(), Expect::Twiml)?;
                self.steps.push(IvrStep::Redirected {
                    url: resolve(&self.document_url, &url)?.into(),
                });
                self.outbox.push_back(fetch);
            }
            Verb::Hangup | Verb::Reject => return Ok(Some(IvrEnd::HungUp)),
            Verb::Dial { target, .. } => {
                self.steps.push(IvrStep::Dialled {
                    target: target.clone(),
                });
                return Ok(Some(IvrEnd::Dialled { target }));
            }
            Verb::Connect {
                stream,
                action,
                method,
            } => {
                let rest = std::mem::take(&mut self.verbs);
                let after = match action {
                    Some(url) => vec![Verb::Redirect { url, method }],
                    None => rest.into(),
                };
                let after = after
                    .into_iter()
                    .map(|v| absolute(v, &self.document_url))
                    .collect::<Result<_, _>>()?;
                return Ok(Some(IvrEnd::Stream {
                    twiml: stream,
                    after,
                }));
            }
            Verb::Other(verb) => self.steps.push(IvrStep::Skipped { verb }),
        }
        Ok(None)
    }

    /// A `<Record>`: the action request (its TwiML continues the call unless the caller hung
    /// up), then the `completed` recording status callback if one is asked for.
    fn record(
        &mut self,
        action: Option<String>,
        method: Method,
        max_length_s: u32,
        beep: bool,
        status_callback: Option<(String, Method)>,
        events: &str,
    ) -> Result<(), CallerError> {
        let recording_sid = new_sid("RE");
        let duration_s = self.input.recording_duration_s.min(max_length_s);
        let duration = duration_s.to_string();
        let recording_url = format!(
            "https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
            self.account_sid
        );
        let started = chrono::Utc::now().to_rfc2822();
        self.steps.push(IvrStep::Recorded {
            recording_sid: recording_sid.clone(),
            duration_s,
            beep,
        });
        let hung_up = self.input.record_end == RecordEnd::HangUp;
        if let Some(href) = action {
            let digits = match self.input.record_end {
                RecordEnd::HangUp => "hangup".to_owned(),
                RecordEnd::Key(key) => key.to_string(),
            };
            let extra = vec![
                ("RecordingUrl".to_owned(), recording_url.clone()),
                ("RecordingSid".to_owned(), recording_sid.clone()),
                ("RecordingDuration".to_owned(), duration.clone()),
                ("Digits".to_owned(), digits),
            ];
            let expect = if hung_up {
                Expect::Ignored
            } else {
                Expect::Twiml
            };
            let fetch = self.request("Record action", method, &href, extra, expect)?;
            self.outbox.push_back(fetch);
        }
        if let Some((href, cb_method)) = status_callback
            && events.split_whitespace().any(|e| e == "completed")
        {
            let params = [
                ("AccountSid", self.account_sid.as_str()),
                ("CallSid", &self.call_sid),
                ("RecordingSid", &recording_sid),
                ("RecordingUrl", &recording_url),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", &duration),
                ("RecordingChannels", "1"),
                ("RecordingSource", "RecordVerb"),
                ("RecordingStartTime", &started),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            let url = resolve(&self.document_url, &href)?;
            let fetch = self.fetch(
                "recording status callback",
                cb_method,
                url,
                params,
                Expect::Ignored,
            );
            self.outbox.push_back(fetch);
        }
        if hung_up {
            self.verbs.clear();
            self.ending = Some(IvrEnd::HungUp);
        }
        Ok(())
    }
}
