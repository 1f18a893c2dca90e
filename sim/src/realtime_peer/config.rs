//! What a [`RealtimePeer`](super::RealtimePeer) does: dialect, auth, VAD, reply shape, pacing.

use switchboard_actors::realtime::Dialect;

/// How the audio deltas of a reply are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// One delta every `delta_ms` of wall-clock time (the first at once), as a real-time voice
    /// would; a response stays in progress long enough to be interrupted.
    #[default]
    RealTime,
    /// Every delta of a reply at once, right after `response.created`.
    Burst,
}

/// Configuration of a [`RealtimePeer`](super::RealtimePeer). Every field has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// Dialect of the events the peer sends (`response.output_audio.delta` vs
    /// `response.audio.delta`, session shapes, …). Client events are accepted in either
    /// dialect whatever this says. Default: [`Dialect::Ga`].
    pub dialect: Dialect,
    /// When set, the websocket upgrade is refused with HTTP 401 unless the request carries
    /// `Authorization: Bearer <this key>`. Default: `None` (any key, or none).
    pub require_api_key: Option<String>,
    /// RMS level (on decoded 16-bit PCM) above which a 20 ms input frame counts as speech.
    /// µ-law silence (0xFF) decodes to 0; a -20 dBFS sine has an RMS of about 2300.
    /// Default: 500 (about -36 dBFS).
    pub vad_threshold: f64,
    /// Audio time of non-speech after the last speech frame that ends an utterance, in ms.
    /// The peer uses this, not the session's `silence_duration_ms`. Default: 300.
    pub silence_ms_to_stop: u32,
    /// Length of the audio of each reply, in ms. Default: 1500.
    pub reply_ms: u32,
    /// Replies are longer by up to this many ms, varying from reply to reply (a fixed
    /// pseudo-random sequence per connection, so runs repeat). Default: 0.
    pub reply_ms_spread: u32,
    /// Audio per `response.output_audio.delta`, in ms. Default: 100.
    pub delta_ms: u32,
    /// Delta pacing. Default: [`Pace::RealTime`].
    pub pace: Pace,
    /// When `Some(n)`, the response to the n-th caller utterance is a call of the function
    /// [`END_CALL`](super::END_CALL) instead of audio; the next `response.create` after the
    /// client's `function_call_output` for it gets a short goodbye reply. Default: `None`.
    pub end_call_on_utterance: Option<u32>,
    /// Length of the goodbye reply's audio, in ms. Default: 600.
    pub goodbye_ms: u32,
    /// Frequency of the reply tone, in Hz. Default: 440.
    pub tone_hz: f64,
    /// The `N` of "Your session hit the maximum duration of N minutes." in the
    /// `session_expired` error. Default: 60.
    pub session_max_minutes: u32,
    /// Load-test probes: read the [`stamps`](crate::stamp) of µ-law caller audio (order
    /// and latency per call, see [`RealtimePeer::probe`](super::RealtimePeer::probe)) and stamp
    /// each µ-law reply delta. Default: false.
    pub stamps: bool,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            dialect: Dialect::Ga,
            require_api_key: None,
            vad_threshold: 500.0,
            silence_ms_to_stop: 300,
            reply_ms: 1500,
            reply_ms_spread: 0,
            delta_ms: 100,
            pace: Pace::RealTime,
            end_call_on_utterance: None,
            goodbye_ms: 600,
            tone_hz: 440.0,
            session_max_minutes: 60,
            stamps: false,
        }
    }
}

impl PeerConfig {
    /// Defaults speaking `dialect`.
    pub fn for_dialect(dialect: Dialect) -> PeerConfig {
        PeerConfig {
            dialect,
            ..PeerConfig::default()
        }
    }
}
