//! What a [`RealtimePeer`](super::RealtimePeer) does: dialect, auth, VAD, reply shape, pacing.

use switchboard_actors::realtime::Dialect;

/// How the audio deltas of a reply are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// One delta every `delta_ms` of wall-clock time (the first at once), as a real-time voice
    /// would; a response stays in progress long enough to be interrupted.
    #[default]
    RealTime,
    /// One delta every `delta_ms / n` of wall-clock time (the first at once): audio generated
    /// `n` times faster than it plays, as the realtime service streams it (an independent
    /// measurement of the engine drove it with 100 ms deltas about 5× faster than real time).
    /// The relay gets a reply's audio ahead of its playout and holds or forwards it; a response
    /// is over sooner, so a barge-in more often finds it complete but still playing.
    Faster(u32),
    /// Every delta of a reply at once, right after `response.created`.
    Burst,
}

impl Pace {
    /// Wall-clock time between two deltas of `delta_ms` each (zero for [`Pace::Burst`]).
    pub fn interval(self, delta_ms: u32) -> std::time::Duration {
        let us = u64::from(delta_ms.max(1)) * 1000;
        std::time::Duration::from_micros(match self {
            Pace::RealTime => us,
            Pace::Faster(n) => us / u64::from(n.max(1)),
            Pace::Burst => 0,
        })
    }
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
    /// The transcript of every caller utterance, instead of "Caller utterance N (M ms)" (a
    /// test's hostile text, say). Default: `None`.
    pub caller_transcript: Option<String>,
    /// Responses that are function calls: on the n-th caller utterance, one response calling
    /// these functions (`(name, arguments JSON)`, several at once). The next reply's transcript
    /// quotes the last output the client sent back, so a test sees the tool's result reach the
    /// caller. Default: none.
    pub function_calls: Vec<ScriptedCalls>,
}

/// See [`PeerConfig::function_calls`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedCalls {
    pub on_utterance: u32,
    pub calls: Vec<(String, String)>,
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
            caller_transcript: None,
            function_calls: Vec::new(),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Pace;

    #[test]
    fn a_faster_pace_divides_the_time_between_deltas() {
        assert_eq!(Pace::RealTime.interval(100), Duration::from_millis(100));
        assert_eq!(Pace::Faster(5).interval(100), Duration::from_millis(20));
        assert_eq!(Pace::Faster(3).interval(20), Duration::from_micros(6666));
        assert_eq!(Pace::Faster(0).interval(20), Duration::from_millis(20));
        assert_eq!(Pace::Burst.interval(100), Duration::ZERO);
    }
}
