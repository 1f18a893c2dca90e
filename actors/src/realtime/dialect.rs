//! Protocol dialects (beta vs GA), the audio formats both understand, and the connection
//! URL and headers.

/// The two generations of the Realtime websocket protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// The generally available protocol (`gpt-realtime`, `gpt-realtime-mini`): nested
    /// `session.audio`, `response.output_audio.*` event names, no beta header.
    Ga,
    /// The beta protocol (`gpt-4o(-mini)-realtime-preview*`): flat session, `response.audio.*`
    /// event names, `OpenAI-Beta: realtime=v1` header.
    Beta,
}

impl Dialect {
    /// Both dialects, GA first.
    pub const ALL: [Dialect; 2] = [Dialect::Ga, Dialect::Beta];

    /// Picks the dialect a model speaks: the `*-realtime-preview*` models are beta, every
    /// other realtime model is GA.
    pub fn for_model(model: &str) -> Dialect {
        if model.contains("realtime-preview") {
            Dialect::Beta
        } else {
            Dialect::Ga
        }
    }

    /// Type of the server event carrying output audio chunks.
    pub(crate) fn audio_delta_type(self) -> &'static str {
        match self {
            Dialect::Ga => "response.output_audio.delta",
            Dialect::Beta => "response.audio.delta",
        }
    }

    /// Type of the server event ending an output audio part.
    pub(crate) fn audio_done_type(self) -> &'static str {
        match self {
            Dialect::Ga => "response.output_audio.done",
            Dialect::Beta => "response.audio.done",
        }
    }

    /// Type of the server event carrying output transcript chunks.
    pub(crate) fn transcript_delta_type(self) -> &'static str {
        match self {
            Dialect::Ga => "response.output_audio_transcript.delta",
            Dialect::Beta => "response.audio_transcript.delta",
        }
    }

    /// Type of the server event with the full output transcript of an audio part.
    pub(crate) fn transcript_done_type(self) -> &'static str {
        match self {
            Dialect::Ga => "response.output_audio_transcript.done",
            Dialect::Beta => "response.audio_transcript.done",
        }
    }

    /// Type of the server event carrying output text chunks.
    pub(crate) fn text_delta_type(self) -> &'static str {
        match self {
            Dialect::Ga => "response.output_text.delta",
            Dialect::Beta => "response.text.delta",
        }
    }

    /// Type of the server event with the full text of a text part.
    pub(crate) fn text_done_type(self) -> &'static str {
        match self {
            Dialect::Ga => "response.output_text.done",
            Dialect::Beta => "response.text.done",
        }
    }

    /// Content-part type of assistant text in `conversation.item.create`.
    pub(crate) fn assistant_text_part(self) -> &'static str {
        match self {
            Dialect::Ga => "output_text",
            Dialect::Beta => "text",
        }
    }
}

/// Audio encodings used on the Realtime websocket, for both input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioFormat {
    /// G.711 µ-law, 8 kHz mono: what Twilio Media Streams carry, so no transcoding needed.
    #[default]
    G711Ulaw,
    /// G.711 A-law, 8 kHz mono.
    G711Alaw,
    /// 16-bit little-endian PCM, 24 kHz mono.
    Pcm16,
}

impl AudioFormat {
    /// Sample rate in Hz.
    pub fn sample_rate(self) -> u32 {
        match self {
            AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 8_000,
            AudioFormat::Pcm16 => 24_000,
        }
    }

    /// Beta wire name (`input_audio_format` / `output_audio_format`).
    pub fn beta_name(self) -> &'static str {
        match self {
            AudioFormat::G711Ulaw => "g711_ulaw",
            AudioFormat::G711Alaw => "g711_alaw",
            AudioFormat::Pcm16 => "pcm16",
        }
    }

    /// GA wire name (the `type` of `audio.input.format` / `audio.output.format`).
    pub fn ga_type(self) -> &'static str {
        match self {
            AudioFormat::G711Ulaw => "audio/pcmu",
            AudioFormat::G711Alaw => "audio/pcma",
            AudioFormat::Pcm16 => "audio/pcm",
        }
    }

    /// Parses a beta wire name.
    pub fn from_beta_name(name: &str) -> Option<AudioFormat> {
        match name {
            "g711_ulaw" => Some(AudioFormat::G711Ulaw),
            "g711_alaw" => Some(AudioFormat::G711Alaw),
            "pcm16" => Some(AudioFormat::Pcm16),
            _ => None,
        }
    }

    /// Parses a GA format `type` (the `rate` of `audio/pcm` is checked by the caller).
    pub fn from_ga_type(name: &str) -> Option<AudioFormat> {
        match name {
            "audio/pcmu" => Some(AudioFormat::G711Ulaw),
            "audio/pcma" => Some(AudioFormat::G711Alaw),
            "audio/pcm" => Some(AudioFormat::Pcm16),
            _ => None,
        }
    }
}

/// Default websocket endpoint, without the `model` query parameter.
pub const DEFAULT_BASE_URL: &str = "wss://api.openai.com/v1/realtime";

/// Builds the websocket URL: `base` plus a percent-encoded `model=<model>` query parameter,
/// joined with `?` or `&` depending on whether `base` already has a query (a trailing `?`
/// or `&` is reused). A `#fragment` in `base` is kept at the end.
pub fn connect_url(base: &str, model: &str) -> String {
    let (head, fragment) = base.split_at(base.find('#').unwrap_or(base.len()));
    let mut url = String::with_capacity(base.len() + model.len() + 8);
    url.push_str(head);
    if !head.contains('?') {
        url.push('?');
    } else if !(head.ends_with('?') || head.ends_with('&')) {
        url.push('&');
    }
    url.push_str("model=");
    for &b in model.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            url.push('%');
            url.push(char::from(HEX[usize::from(b >> 4)]));
            url.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    url.push_str(fragment);
    url
}

/// HTTP headers for the websocket upgrade: `Authorization: Bearer <key>`, plus
/// `OpenAI-Beta: realtime=v1` for the beta dialect only.
pub fn connect_headers(dialect: Dialect, api_key: &str) -> Vec<(&'static str, String)> {
    let mut headers = vec![("Authorization", format!("Bearer {api_key}"))];
    if dialect == Dialect::Beta {
        headers.push(("OpenAI-Beta", "realtime=v1".to_owned()));
    }
    headers
}
