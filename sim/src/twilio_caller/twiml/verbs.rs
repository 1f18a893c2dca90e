//! A whole TwiML voice document as the list of verbs Twilio runs in order ([`verbs`]): `<Say>`,
//! `<Play>`, `<Pause>`, `<Gather>` (with its nested prompts), `<Record>`, `<Redirect>`,
//! `<Hangup>`, `<Reject>`, `<Dial>` and `<Connect><Stream>`; any other verb is kept by name
//! ([`Verb::Other`]) for the interpreter to skip.
//!
//! Built on the same tokenizer as [`Twiml::parse`]: the document is read into a small element tree
//! (text decoded, CDATA taken literally), then each child of `<Response>` becomes a [`Verb`].
//! Attribute values are typed here, so a bad number, boolean or method is a
//! [`CallerError::BadTwiml`] naming the verb and attribute, as Twilio rejects such a document.
//! URLs are kept as written (relative or absolute): resolving them against the document's URL is
//! the interpreter's job ([`crate::twilio_caller::follow`]).

use super::{Token, Twiml, attr, tokenize, unescape};
use crate::twilio_caller::CallerError;

/// How Twilio requests a verb's URL (`method="GET|POST"`, POST when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Parameters in the query string; the signature covers that full URL and no parameters.
    Get,
    /// A form body; the signature covers the URL and the sorted parameters.
    #[default]
    Post,
}

/// One verb of a TwiML voice document, with its attributes typed and defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `<Say voice language>text</Say>`: text-to-speech (SSML children contribute their text).
    Say {
        /// The words, entities decoded, whitespace trimmed.
        text: String,
        /// `voice`, e.g. `Polly.Joanna`.
        voice: Option<String>,
        /// `language`, e.g. `en-US`.
        language: Option<String>,
    },
    /// `<Play>url</Play>`: an audio file.
    Play {
        /// The audio URL as written (may be relative; empty for a `digits`-only `<Play>`).
        url: String,
    },
    /// `<Pause length>`: silence, 1 s by default.
    Pause {
        /// `length`, in seconds.
        seconds: u32,
    },
    /// `<Gather>`: prompts the caller and collects keys or speech.
    Gather {
        /// `action`; `None` means the current document's URL.
        action: Option<String>,
        /// `method`.
        method: Method,
        /// `input`: `dtmf` (default), `speech` or `dtmf speech`.
        input: String,
        /// `numDigits`: submit once this many keys are pressed.
        num_digits: Option<u32>,
        /// `timeout` in seconds (default 5).
        timeout_s: u32,
        /// `finishOnKey` (default `#`; empty means none).
        finish_on_key: String,
        /// `language` of the speech recognizer.
        language: Option<String>,
        /// `hints` for the speech recognizer.
        hints: Option<String>,
        /// The nested `<Say>`, `<Play>` and `<Pause>`, in order.
        prompts: Vec<Verb>,
    },
    /// `<Record>`: records the caller (voicemail).
    Record {
        /// `action`; with none, the next verb runs after the recording.
        action: Option<String>,
        /// `method` of the action request.
        method: Method,
        /// `maxLength` in seconds (default 3600).
        max_length_s: u32,
        /// `playBeep` (default true).
        play_beep: bool,
        /// `recordingStatusCallback`.
        recording_status_callback: Option<String>,
        /// `recordingStatusCallbackMethod`.
        recording_status_callback_method: Method,
        /// `recordingStatusCallbackEvent` (default `completed`): space-separated events.
        recording_status_callback_event: String,
    },
    /// `<Redirect method>url</Redirect>`: fetch another document and run it instead.
    Redirect {
        /// The URL as written.
        url: String,
        /// `method`.
        method: Method,
    },
    /// `<Hangup/>`.
    Hangup,
    /// `<Reject/>`.
    Reject,
    /// `<Dial>`: bridges the call to another party.
    Dial {
        /// The text inside, nested nouns included (`+1555…`, `<Number>…</Number>`, …), each
        /// piece trimmed and joined with a space.
        target: String,
        /// `action`.
        action: Option<String>,
        /// `method` of the action request.
        method: Method,
        /// `timeout` in seconds (default 30).
        timeout_s: u32,
    },
    /// `<Connect><Stream>`: a bidirectional media stream.
    Connect {
        /// The stream, read as [`Twiml::parse`] reads it.
        stream: Twiml,
        /// `<Connect action>`: requested when the stream ends (the verbs after `</Connect>` are
        /// then never run).
        action: Option<String>,
        /// `<Connect method>`.
        method: Method,
    },
    /// A verb this simulator does not run (`<Enqueue>`, `<Start>`, a `<Connect>` without
    /// `<Stream>`, …), by element name.
    Other(String),
}

/// The verbs of a TwiML voice document, in order. The root must be `<Response>` (an empty one
/// gives no verbs); tags must balance; text and attributes are decoded.
pub fn verbs(xml: &str) -> Result<Vec<Verb>, CallerError> {
    let root = document(xml)?;
    root.elements().map(verb).collect()
}

/// An element of the document tree.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    fn attr(&self, name: &str) -> Option<&str> {
        attr(&self.attrs, name)
    }

    fn attr_owned(&self, name: &str) -> Option<String> {
        self.attr(name).map(str::to_owned)
    }

    /// Each text piece of the element and its descendants, trimmed, empty ones dropped.
    fn text_pieces(&self, out: &mut Vec<String>) {
        for child in &self.children {
            match child {
                Node::Text(t) if !t.trim().is_empty() => out.push(t.trim().to_owned()),
                Node::Text(_) => {}
                Node::Element(e) => e.text_pieces(out),
            }
        }
    }

    /// The text content: all text inside, concatenated, outer whitespace trimmed.
    fn text(&self) -> String {
        fn collect(e: &Element, out: &mut String) {
            for child in &e.children {
                match child {
                    Node::Text(t) => out.push_str(t),
                    Node::Element(e) => collect(e, out),
                }
            }
        }
        let mut out = String::new();
        collect(self, &mut out);
        out.trim().to_owned()
    }

    fn number(&self, name: &str, default: u32) -> Result<u32, CallerError> {
        match self.attr(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                bad(format!(
                    "<{}> {name}={v:?} is not a whole number",
                    self.name
                ))
            }),
        }
    }

    fn boolean(&self, name: &str, default: bool) -> Result<bool, CallerError> {
        match self.attr(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(bad(format!(
                "<{}> {name}={v:?} is not true or false",
                self.name
            ))),
        }
    }

    fn method(&self, name: &str) -> Result<Method, CallerError> {
        match self.attr(name) {
            None => Ok(Method::Post),
            Some(v) if v.eq_ignore_ascii_case("POST") => Ok(Method::Post),
            Some(v) if v.eq_ignore_ascii_case("GET") => Ok(Method::Get),
            Some(v) => Err(bad(format!(
                "<{}> {name}={v:?} is not GET or POST",
                self.name
            ))),
        }
    }
}

fn bad(msg: String) -> CallerError {
    CallerError::BadTwiml(msg)
}

/// Reads the document into a tree and returns its `<Response>` root.
fn document(xml: &str) -> Result<Element, CallerError> {
    let tokens = tokenize(xml).map_err(bad)?;
    // The open elements, outermost first.
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    for token in tokens {
        match token {
            Token::Open {
                name,
                attrs,
                self_closing,
            } => {
                if open.is_empty() {
                    if root.is_some() {
                        return Err(bad("more than one root element".into()));
                    }
                    if name != "Response" {
                        return Err(bad(format!("root element is <{name}>, not <Response>")));
                    }
                }
                let element = Element {
                    name,
                    attrs,
                    children: Vec::new(),
                };
                if self_closing {
                    close(&mut open, &mut root, element);
                } else {
                    open.push(element);
                }
            }
            Token::Close(name) => match open.pop() {
                Some(top) if top.name == name => close(&mut open, &mut root, top),
                Some(top) => return Err(bad(format!("</{name}> closes <{}>", top.name))),
                None => return Err(bad(format!("</{name}> has no opening tag"))),
            },
            Token::Text { raw, cdata } => {
                // Text outside the root (whitespace between the declaration and it) is dropped.
                if let Some(parent) = open.last_mut() {
                    let text = if cdata {
                        raw
                    } else {
                        unescape(&raw).map_err(bad)?
                    };
                    parent.children.push(Node::Text(text));
                }
            }
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(bad(format!("<{}> is never closed", unclosed.name)));
    }
    root.ok_or_else(|| bad("no <Response> element".into()))
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(open: &mut [Element], root: &mut Option<Element>, element: Element) {
    match open.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
}

fn verb(e: &Element) -> Result<Verb, CallerError> {
    Ok(match e.name.as_str() {
        "Say" => Verb::Say {
            text: e.text(),
            voice: e.attr_owned("voice"),
            language: e.attr_owned("language"),
        },
        "Play" => Verb::Play { url: e.text() },
        "Pause" => Verb::Pause {
            seconds: e.number("length", 1)?,
        },
        "Gather" => {
            let prompts = e
                .elements()
                .map(|child| match child.name.as_str() {
                    "Say" | "Play" | "Pause" => verb(child),
                    other => Err(bad(format!(
                        "<Gather> may nest <Say>, <Play> and <Pause>, not <{other}>"
                    ))),
                })
                .collect::<Result<_, _>>()?;
            Verb::Gather {
                action: e.attr_owned("action"),
                method: e.method("method")?,
                input: e.attr("input").unwrap_or("dtmf").to_owned(),
                num_digits: e
                    .attr("numDigits")
                    .map(|_| e.number("numDigits", 0))
                    .transpose()?,
                timeout_s: e.number("timeout", 5)?,
                finish_on_key: e.attr("finishOnKey").unwrap_or("#").to_owned(),
                language: e.attr_owned("language"),
                hints: e.attr_owned("hints"),
                prompts,
            }
        }
        "Record" => Verb::Record {
            action: e.attr_owned("action"),
            method: e.method("method")?,
            max_length_s: e.number("maxLength", 3600)?,
            play_beep: e.boolean("playBeep", true)?,
            recording_status_callback: e.attr_owned("recordingStatusCallback"),
            recording_status_callback_method: e.method("recordingStatusCallbackMethod")?,
            recording_status_callback_event: e
                .attr("recordingStatusCallbackEvent")
                .unwrap_or("completed")
                .to_owned(),
        },
        "Redirect" => {
            let url = e.text();
            if url.is_empty() {
                return Err(bad("<Redirect> has no URL".into()));
            }
            Verb::Redirect {
                url,
                method: e.method("method")?,
            }
        }
        "Hangup" => Verb::Hangup,
        "Reject" => Verb::Reject,
        "Dial" => {
            let mut pieces = Vec::new();
            e.text_pieces(&mut pieces);
            Verb::Dial {
                target: pieces.join(" "),
                action: e.attr_owned("action"),
                method: e.method("method")?,
                timeout_s: e.number("timeout", 30)?,
            }
        }
        "Connect" => match e.elements().find(|c| c.name == "Stream") {
            Some(stream) => Verb::Connect {
                stream: connect_stream(stream)?,
                action: e.attr_owned("action"),
                method: e.method("method")?,
            },
            None => Verb::Other("Connect".into()),
        },
        other => Verb::Other(other.to_owned()),
    })
}

/// `<Stream url name>` and its direct `<Parameter>` children, with [`Twiml::parse`]'s rules.
fn connect_stream(stream: &Element) -> Result<Twiml, CallerError> {
    let url = stream
        .attr("url")
        .ok_or_else(|| bad("<Connect><Stream> has no url attribute".into()))?;
    if url.is_empty() {
        return Err(bad("<Stream url> is empty".into()));
    }
    let parameters = stream
        .elements()
        .filter(|p| p.name == "Parameter")
        .map(|p| {
            let name = p
                .attr("name")
                .ok_or_else(|| bad("<Parameter> has no name attribute".into()))?;
            Ok((
                name.to_owned(),
                p.attr("value").unwrap_or_default().to_owned(),
            ))
        })
        .collect::<Result<_, CallerError>>()?;
    Ok(Twiml {
        stream_url: url.to_owned(),
        stream_name: stream.attr_owned("name"),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Vec<Verb> {
        verbs(xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    fn err(xml: &str) -> String {
        match verbs(xml) {
            Err(CallerError::BadTwiml(msg)) => msg,
            other => panic!("expected BadTwiml for {xml}, got {other:?}"),
        }
    }

    fn say(text: &str) -> Verb {
        Verb::Say {
            text: text.into(),
            voice: None,
            language: None,
        }
    }

    #[test]
    fn an_ivr_menu_reads_as_gather_then_its_fallbacks() {
        let v = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <Response>
              <Gather input="dtmf speech"
                      action="https://calls.example.com/twilio/ivr/menu?t=a&amp;b=c"
                      method="POST" numDigits="1" timeout="7" language="fr-FR"
                      hints="ventes, facturation">
                <Say voice="Polly.Celine" language="fr-FR">
                  Tapez 1 pour les ventes, 2 pour la facturation &amp; le reste
                </Say>
                <Pause/>
                <Play>https://cdn.example.com/menu.mp3</Play>
              </Gather>
              <Say>We did not receive any input.</Say>
              <Redirect method="GET">  /twilio/voice?retry=1  </Redirect>
            </Response>"#,
        );
        assert_eq!(
            v,
            vec![
                Verb::Gather {
                    action: Some("https://calls.example.com/twilio/ivr/menu?t=a&b=c".into()),
                    method: Method::Post,
                    input: "dtmf speech".into(),
                    num_digits: Some(1),
                    timeout_s: 7,
                    finish_on_key: "#".into(),
                    language: Some("fr-FR".into()),
                    hints: Some("ventes, facturation".into()),
                    prompts: vec![
                        Verb::Say {
                            text: "Tapez 1 pour les ventes, 2 pour la facturation & le reste"
                                .into(),
                            voice: Some("Polly.Celine".into()),
                            language: Some("fr-FR".into()),
                        },
                        Verb::Pause { seconds: 1 },
                        Verb::Play {
                            url: "https://cdn.example.com/menu.mp3".into()
                        },
                    ],
                },
                say("We did not receive any input."),
                Verb::Redirect {
                    url: "/twilio/voice?retry=1".into(),
                    method: Method::Get,
                },
            ]
        );
    }

    #[test]
    fn gather_and_record_defaults_are_twilios() {
        let v = parse(
            "<Response><Gather/><Record/><Pause length='3'/><Dial>+15555550100</Dial></Response>",
        );
        assert_eq!(
            v,
            vec![
                Verb::Gather {
                    action: None,
                    method: Method::Post,
                    input: "dtmf".into(),
                    num_digits: None,
                    timeout_s: 5,
                    finish_on_key: "#".into(),
                    language: None,
                    hints: None,
                    prompts: vec![],
                },
                Verb::Record {
                    action: None,
                    method: Method::Post,
                    max_length_s: 3600,
                    play_beep: true,
                    recording_status_callback: None,
                    recording_status_callback_method: Method::Post,
                    recording_status_callback_event: "completed".into(),
                },
                Verb::Pause { seconds: 3 },
                Verb::Dial {
                    target: "+15555550100".into(),
                    action: None,
                    method: Method::Post,
                    timeout_s: 30,
                },
            ]
        );
    }

    #[test]
    fn voicemail_hangup_dial_and_unknown_verbs() {
        let v = parse(
            r#"<Response>
                 <Record action="/twilio/ivr/recorded" method="GET" maxLength="120" playBeep="false"
                   recordingStatusCallback="recording-status" recordingStatusCallbackMethod="GET"
                   recordingStatusCallbackEvent="in-progress completed" transcribe="false"/>
                 <Dial action="/after-dial" timeout="12"><Number> +15555550100 </Number>
                   <Sip>sip:desk@example.com</Sip></Dial>
                 <Enqueue>support</Enqueue>
                 <Connect><Room>r1</Room></Connect>
                 <Hangup/><Reject></Reject>
               </Response>"#,
        );
        assert_eq!(
            v,
            vec![
                Verb::Record {
                    action: Some("/twilio/ivr/recorded".into()),
                    method: Method::Get,
                    max_length_s: 120,
                    play_beep: false,
                    recording_status_callback: Some("recording-status".into()),
                    recording_status_callback_method: Method::Get,
                    recording_status_callback_event: "in-progress completed".into(),
                },
                Verb::Dial {
                    target: "+15555550100 sip:desk@example.com".into(),
                    action: Some("/after-dial".into()),
                    method: Method::Post,
                    timeout_s: 12,
                },
                Verb::Other("Enqueue".into()),
                Verb::Other("Connect".into()),
                Verb::Hangup,
                Verb::Reject,
            ]
        );
    }

    #[test]
    fn connect_stream_reads_like_twiml_parse_and_keeps_what_follows() {
        let xml = r#"<Response><Say>Connecting</Say>
            <Connect action="/twilio/after-stream" method="GET">
              <Stream url="wss://calls.example.com/twilio/media" name="main">
                <Parameter name="call_id" value="c-1"/><Parameter name="tenant" value="A&amp;B"/>
              </Stream>
            </Connect>
            <Say><![CDATA[Sorry, <nobody> is available]]></Say>
            <Record maxLength="60"/></Response>"#;
        let v = parse(xml);
        let stream = Twiml::parse(xml).expect("the stream");
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], say("Connecting"));
        assert_eq!(
            v[1],
            Verb::Connect {
                stream: stream.clone(),
                action: Some("/twilio/after-stream".into()),
                method: Method::Get,
            }
        );
        assert_eq!(stream.parameter("tenant"), Some("A&B"));
        assert_eq!(stream.stream_name.as_deref(), Some("main"));
        assert_eq!(v[2], say("Sorry, <nobody> is available"));
        assert!(matches!(
            v[3],
            Verb::Record {
                max_length_s: 60,
                ..
            }
        ));
    }

    #[test]
    fn ssml_inside_say_contributes_its_text() {
        let v = parse(
            "<Response><Say voice='Polly.Joanna'>Hello <prosody rate='slow'>dear \
             &#233;l&#xE8;ve</prosody>,\n  welcome<break time='1s'/>!</Say><Say/></Response>",
        );
        assert_eq!(
            v,
            vec![
                Verb::Say {
                    text: "Hello dear élève,\n  welcome!".into(),
                    voice: Some("Polly.Joanna".into()),
                    language: None,
                },
                say(""),
            ]
        );
        assert_eq!(parse("<Response/>"), vec![]);
        assert_eq!(
            parse("<?xml version='1.0'?>\n<Response>\n</Response>\n"),
            vec![]
        );
    }

    #[test]
    fn bad_documents_and_attributes_are_rejected() {
        assert!(err("").contains("no <Response>"));
        assert!(err("<Document/>").contains("root"));
        assert!(err("<Response/><Response/>").contains("more than one root"));
        assert!(err("<Response><Say>hi</Response>").contains("closes"));
        assert!(err("<Response><Say>hi</Say>").contains("never closed"));
        assert!(err("<Response><Say>a &nbsp; b</Say></Response>").contains("unknown entity"));
        assert!(err("<Response><Pause length='soon'/></Response>").contains("length"));
        assert!(err("<Response><Gather numDigits='-1'/></Response>").contains("numDigits"));
        assert!(err("<Response><Gather method='PUT'/></Response>").contains("GET or POST"));
        assert!(err("<Response><Record playBeep='yes'/></Response>").contains("playBeep"));
        assert!(err("<Response><Redirect> </Redirect></Response>").contains("no URL"));
        assert!(err("<Response><Gather><Record/></Gather></Response>").contains("not <Record>"));
        assert!(
            err("<Response><Connect><Stream/></Connect></Response>").contains("no url attribute")
        );
        assert!(
            err("<Response><Connect><Stream url='x'><Parameter/></Stream></Connect></Response>")
                .contains("no name")
        );
    }
}
