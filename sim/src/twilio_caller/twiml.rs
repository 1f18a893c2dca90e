//! The part of TwiML a Media Streams caller needs: `<Response><Connect><Stream url="…">` and the
//! stream's `<Parameter name="…" value="…"/>` children.
//!
//! A small, strict-enough XML reader rather than a full parser: it accepts what a TwiML server may
//! legitimately write (XML declaration, comments, CDATA, any attribute order, single or double
//! quotes, free whitespace, the five named entities and numeric character references, self-closing
//! or explicitly closed elements) and rejects what Twilio would reject (unbalanced tags, a root
//! other than `<Response>`, a `<Connect>` with no `<Stream url>`).
//!
//! The whole document as a list of verbs (IVR menus, voicemail, fallbacks after the stream) is
//! [`verbs()`], in the child module `verbs`, on the same tokenizer.

use std::collections::BTreeMap;

use super::CallerError;

mod verbs;

pub use verbs::{Method, Verb, verbs};

/// What the engine's TwiML tells Twilio to do with the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twiml {
    /// `<Stream url>`: where Twilio opens the media websocket (`wss://…`, or `ws://…` in tests).
    pub stream_url: String,
    /// `<Stream name>`, if given.
    pub stream_name: Option<String>,
    /// The stream's `<Parameter>`s in document order; they arrive as `start.customParameters`.
    pub parameters: Vec<(String, String)>,
}

impl Twiml {
    /// Reads `<Response><Connect><Stream>` out of a TwiML document.
    pub fn parse(xml: &str) -> Result<Twiml, CallerError> {
        let bad = |msg: String| CallerError::BadTwiml(msg);
        let tokens = tokenize(xml).map_err(bad)?;
        // (name, attributes) of the open elements, outermost first.
        let mut open: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut stream: Option<Twiml> = None;
        // Depth of the <Stream> whose parameters we are collecting.
        let mut collecting: Option<usize> = None;
        for token in &tokens {
            match token {
                Token::Open {
                    name,
                    attrs,
                    self_closing,
                } => {
                    if open.is_empty() {
                        roots += 1;
                        if roots > 1 {
                            return Err(bad("more than one root element".into()));
                        }
                        if name != "Response" {
                            return Err(bad(format!("root element is <{name}>, not <Response>")));
                        }
                    }
                    let path_is = |want: &[&str]| open.as_slice() == want;
                    if name == "Stream" && stream.is_none() && path_is(&["Response", "Connect"]) {
                        let url = attr(attrs, "url")
                            .ok_or_else(|| bad("<Connect><Stream> has no url attribute".into()))?;
                        if url.is_empty() {
                            return Err(bad("<Stream url> is empty".into()));
                        }
                        stream = Some(Twiml {
                            stream_url: url.to_owned(),
                            stream_name: attr(attrs, "name").map(str::to_owned),
                            parameters: Vec::new(),
                        });
                        if !self_closing {
                            collecting = Some(open.len() + 1);
                        }
                    } else if name == "Parameter"
                        && collecting == Some(open.len())
                        && open.last() == Some(&"Stream")
                    {
                        let param_name = attr(attrs, "name")
                            .ok_or_else(|| bad("<Parameter> has no name attribute".into()))?;
                        let value = attr(attrs, "value").unwrap_or_default();
                        if let Some(s) = stream.as_mut() {
                            s.parameters.push((param_name.to_owned(), value.to_owned()));
                        }
                    }
                    if !self_closing {
                        open.push(name);
                    }
                }
                Token::Close(name) => match open.pop() {
                    Some(top) if top == name => {
                        if collecting == Some(open.len() + 1) {
                            collecting = None;
                        }
                    }
                    Some(top) => {
                        return Err(bad(format!("</{name}> closes <{top}>")));
                    }
                    None => return Err(bad(format!("</{name}> has no opening tag"))),
                },
                Token::Text { .. } => {}
            }
        }
        if let Some(unclosed) = open.last() {
            return Err(bad(format!("<{unclosed}> is never closed")));
        }
        if roots == 0 {
            return Err(bad("no <Response> element".into()));
        }
        stream.ok_or_else(|| bad("no <Connect><Stream> in the response".into()))
    }

    /// The value of the `<Parameter>` called `name` (the last one, if repeated).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters as Twilio sends them in `start.customParameters` (a JSON object: a
    /// repeated name keeps its last value).
    pub fn custom_parameters(&self) -> BTreeMap<String, String> {
        self.parameters.iter().cloned().collect()
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[derive(Debug)]
enum Token {
    Open {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    Close(String),
    /// Character data between tags, as written (`cdata`: the inside of a CDATA section, taken
    /// literally; otherwise entities still to decode).
    Text {
        raw: String,
        cdata: bool,
    },
}

/// Splits a document into element tags and text, skipping declarations and comments.
fn tokenize(xml: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = xml.trim_start_matches('\u{feff}');
    while let Some(lt) = rest.find('<') {
        if lt > 0 {
            tokens.push(Token::Text {
                raw: rest[..lt].to_owned(),
                cdata: false,
            });
        }
        rest = &rest[lt..];
        let skip_to = |rest: &str, end: &str, what: &str| -> Result<usize, String> {
            rest.find(end)
                .map(|i| i + end.len())
                .ok_or_else(|| format!("unterminated {what}"))
        };
        if rest.starts_with("<?") {
            rest = &rest[skip_to(rest, "?>", "processing instruction")?..];
        } else if rest.starts_with("<!--") {
            rest = &rest[skip_to(rest, "-->", "comment")?..];
        } else if rest.starts_with("<![CDATA[") {
            let end = skip_to(rest, "]]>", "CDATA section")?;
            tokens.push(Token::Text {
                raw: rest["<![CDATA[".len()..end - "]]>".len()].to_owned(),
                cdata: true,
            });
            rest = &rest[end..];
        } else if rest.starts_with("<!") {
            rest = &rest[skip_to(rest, ">", "declaration")?..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after
                .find('>')
                .ok_or_else(|| "unterminated closing tag".to_owned())?;
            let name = after[..end].trim();
            check_name(name)?;
            tokens.push(Token::Close(name.to_owned()));
            rest = &after[end + 1..];
        } else {
            let (token, after) = open_tag(&rest[1..])?;
            tokens.push(token);
            rest = after;
        }
    }
    Ok(tokens)
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!("bad element or attribute name {name:?}"))
    }
}

/// Parses `Name attr="v" …>` or `…/>` (the `<` already consumed); returns the rest after `>`.
fn open_tag(s: &str) -> Result<(Token, &str), String> {
    let name_end = s
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .ok_or_else(|| "unterminated tag".to_owned())?;
    let name = &s[..name_end];
    check_name(name)?;
    let mut rest = &s[name_end..];
    let mut attrs: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/>") {
            return Ok((open(name, attrs, true), after));
        }
        if let Some(after) = rest.strip_prefix('>') {
            return Ok((open(name, attrs, false), after));
        }
        if rest.is_empty() {
            return Err(format!("unterminated <{name}> tag"));
        }
        let key_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/' || c == '>')
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        check_name(key)?;
        rest = rest[key_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("attribute {key} of <{name}> has no value"))?
            .trim_start();
        let quote = rest
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| format!("attribute {key} of <{name}> is not quoted"))?;
        rest = &rest[1..];
        let close = rest
            .find(quote)
            .ok_or_else(|| format!("attribute {key} of <{name}> is not terminated"))?;
        let raw = &rest[..close];
        if raw.contains('<') {
            return Err(format!("'<' in attribute {key} of <{name}>"));
        }
        if attrs.iter().any(|(k, _)| k == key) {
            return Err(format!("attribute {key} repeated on <{name}>"));
        }
        attrs.push((key.to_owned(), unescape(raw)?));
        rest = &rest[close + 1..];
        if !(rest.starts_with(|c: char| c.is_whitespace())
            || rest.starts_with('>')
            || rest.starts_with("/>"))
        {
            return Err(format!("no space after attribute {key} of <{name}>"));
        }
    }
}

fn open(name: &str, attrs: Vec<(String, String)>, self_closing: bool) -> Token {
    Token::Open {
        name: name.to_owned(),
        attrs,
        self_closing,
    }
}

/// Decodes the five named entities and numeric character references.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|&i| i <= 10)
            .ok_or_else(|| format!("unterminated entity in {raw:?}"))?;
        let entity = &after[..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Twiml {
        Twiml::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    fn err(xml: &str) -> String {
        match Twiml::parse(xml) {
            Err(CallerError::BadTwiml(msg)) => msg,
            other => panic!("expected BadTwiml for {xml}, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_engines_own_twiml() {
        let t = parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream \
             url=\"wss://calls.example.com/twilio/media\"><Parameter name=\"call_id\" \
             value=\"0190a0b1-0000-7000-8000-000000000001\"/></Stream></Connect></Response>",
        );
        assert_eq!(t.stream_url, "wss://calls.example.com/twilio/media");
        assert_eq!(t.stream_name, None);
        assert_eq!(
            t.parameter("call_id"),
            Some("0190a0b1-0000-7000-8000-000000000001")
        );
        assert_eq!(t.parameters.len(), 1);
    }

    #[test]
    fn entities_quotes_order_whitespace_and_several_parameters() {
        let t = parse(
            "\u{feff}<?xml version='1.0'?>\n<!-- greeting -->\n<Response>\n  <Connect>\n    \
             <Stream name = 'main'\n            url='ws://127.0.0.1:9/twilio/media?x=1&amp;y=2' >\n      \
             <Parameter value=\"A&amp;B &lt;c&gt; &quot;q&quot; &apos;s&apos;\" name=\"tenant\" />\n      \
             <Parameter\tname='call_id'\tvalue='c-1'/>\n      \
             <Parameter name=\"it's\" value='say \"hi\" &#233;&#xE9;'></Parameter>\n      \
             <Parameter name=\"empty\"/>\n      <![CDATA[ <Parameter name=\"no\" value=\"no\"/> ]]>\n    \
             </Stream>\n  </Connect>\n</Response>\n",
        );
        assert_eq!(t.stream_url, "ws://127.0.0.1:9/twilio/media?x=1&y=2");
        assert_eq!(t.stream_name.as_deref(), Some("main"));
        assert_eq!(
            t.parameters,
            vec![
                ("tenant".into(), "A&B <c> \"q\" 's'".into()),
                ("call_id".into(), "c-1".into()),
                ("it's".into(), "say \"hi\" éé".into()),
                ("empty".into(), String::new()),
            ]
        );
        let custom = t.custom_parameters();
        assert_eq!(custom.len(), 4);
        assert_eq!(custom["tenant"], "A&B <c> \"q\" 's'");
    }

    #[test]
    fn other_verbs_and_forked_streams_are_skipped() {
        let t = parse(
            r#"<Response><Say voice="alice">Hello &amp; welcome</Say>
               <Start><Stream url="wss://fork.example/x"><Parameter name="fork" value="1"/></Stream></Start>
               <Connect action="/next"><Stream url="wss://main.example/m"/></Connect>
               <Pause length="1"/></Response>"#,
        );
        assert_eq!(t.stream_url, "wss://main.example/m");
        assert!(t.parameters.is_empty());
        // Parameters of nested elements other than the Stream itself are not the stream's.
        let t = parse(
            r#"<Response><Connect><Stream url="ws://a/b"><X><Parameter name="deep" value="1"/></X>
               <Parameter name="p" value="1"/><Parameter name="p" value="2"/></Stream></Connect></Response>"#,
        );
        assert_eq!(
            t.parameters,
            vec![("p".into(), "1".into()), ("p".into(), "2".into())]
        );
        assert_eq!(t.parameter("p"), Some("2"));
    }

    #[test]
    fn malformed_twiml_is_rejected() {
        assert!(err("").contains("no <Response>"));
        assert!(err("<Response></Response>").contains("no <Connect><Stream>"));
        assert!(err("<Respons><Connect><Stream url='x'/></Connect></Respons>").contains("root"));
        assert!(err("<Response><Connect><Stream/></Connect></Response>").contains("no url"));
        assert!(err("<Response><Connect><Stream url=''/></Connect></Response>").contains("empty"));
        assert!(err("<Response><Connect><Stream url='x'/></Response>").contains("closes"));
        assert!(err("<Response><Connect><Stream url='x'/></Connect>").contains("never closed"));
        assert!(err("<Response><Connect><Stream url=x/></Connect></Response>").contains("quoted"));
        assert!(
            err("<Response><Connect><Stream url='a&b'/></Connect></Response>").contains("entity")
        );
        assert!(
            err("<Response><Connect><Stream url='&nbsp;'/></Connect></Response>")
                .contains("unknown entity")
        );
        assert!(
            err("<Response><Connect><Stream url='x'><Parameter value='1'/></Stream></Connect></Response>")
                .contains("no name")
        );
        assert!(err("<Response><!-- </Response>").contains("unterminated comment"));
        assert!(err("<Response/><Response/>").contains("more than one root"));
        assert!(
            err("<Response><Connect><Stream url='x'a='b'/></Connect></Response>").contains("space")
        );
    }
}
