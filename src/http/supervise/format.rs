//! The audio formats of a supervisor socket, from its query string: `codec` (opus | pcm16,
//! default opus), `rate` (Opus 16000 | 48000, default 48000; PCM16 8000 | 16000 | 48000,
//! default 16000), `channels` (mix | stereo: both sides mixed, or caller left and agent right;
//! default mix), and for the supervisor's own audio `input_codec` and `input_rate` (mono; by
//! default the same codec and rate). `access_token` may be there too (browsers).

use serde_json::json;
use switchboard_actors::audio::{MonitorCodec, MonitorFormat, MonitorLayout, SupervisorCodec};

use crate::http::error::ApiError;

/// What a supervisor hears and sends.
#[derive(Debug, Clone, Copy)]
pub struct SessionFormat {
    pub codec: MonitorCodec,
    pub rate_hz: u32,
    pub layout: MonitorLayout,
    pub input_codec: SupervisorCodec,
    pub input_rate_hz: u32,
}

impl SessionFormat {
    /// Parses the query; a bad value is a 400 naming the parameter.
    pub fn parse(raw: &str) -> Result<SessionFormat, ApiError> {
        let mut codec = None;
        let mut rate = None;
        let mut layout = MonitorLayout::Mix;
        let mut input_codec = None;
        let mut input_rate = None;
        let bad = |name: &str, value: &str, expected: &str| {
            ApiError::BadRequest(format!(
                "query parameter `{name}`: `{value}` is not {expected}"
            ))
        };
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            match &*key {
                "codec" | "input_codec" => {
                    let opus = match &*value {
                        "opus" => true,
                        "pcm16" => false,
                        _ => return Err(bad(&key, &value, "opus or pcm16")),
                    };
                    if key == "codec" {
                        codec = Some(opus);
                    } else {
                        input_codec = Some(opus);
                    }
                }
                "rate" | "input_rate" => {
                    let hz: u32 = value
                        .parse()
                        .map_err(|_| bad(&key, &value, "a sample rate in Hz"))?;
                    if key == "rate" {
                        rate = Some(hz);
                    } else {
                        input_rate = Some(hz);
                    }
                }
                "channels" => {
                    layout = match &*value {
                        "mix" => MonitorLayout::Mix,
                        "stereo" => MonitorLayout::Stereo,
                        _ => return Err(bad("channels", &value, "mix or stereo")),
                    }
                }
                "access_token" => {}
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "query parameter `{other}` is not known (codec, rate, channels, \
                         input_codec, input_rate)"
                    )));
                }
            }
        }
        let opus = codec.unwrap_or(true);
        let rate_hz = rate.unwrap_or(if opus { 48_000 } else { 16_000 });
        let rates: &[u32] = if opus {
            &[16_000, 48_000]
        } else {
            &[8_000, 16_000, 48_000]
        };
        if !rates.contains(&rate_hz) {
            return Err(bad(
                "rate",
                &rate_hz.to_string(),
                &format!("one of {rates:?}"),
            ));
        }
        let input_opus = input_codec.unwrap_or(opus);
        let input_rate_hz = input_rate.unwrap_or(rate_hz);
        let input_rates: &[u32] = if input_opus {
            &[16_000, 48_000]
        } else {
            &[8_000, 16_000, 24_000, 48_000]
        };
        if !input_rates.contains(&input_rate_hz) {
            return Err(bad(
                "input_rate",
                &input_rate_hz.to_string(),
                &format!("one of {input_rates:?}"),
            ));
        }
        Ok(SessionFormat {
            codec: if opus {
                MonitorCodec::Opus
            } else {
                MonitorCodec::Pcm16
            },
            rate_hz,
            layout,
            input_codec: if input_opus {
                SupervisorCodec::Opus
            } else {
                SupervisorCodec::Pcm16
            },
            input_rate_hz,
        })
    }

    pub fn monitor(&self) -> MonitorFormat {
        MonitorFormat {
            codec: self.codec,
            rate_hz: self.rate_hz,
            layout: self.layout,
        }
    }

    /// The `audio` of the `ready` message.
    pub fn describe_output(&self) -> serde_json::Value {
        json!({
            "codec": if matches!(self.codec, MonitorCodec::Opus) { "opus" } else { "pcm16" },
            "rate": self.rate_hz,
            "channels": if matches!(self.layout, MonitorLayout::Mix) { "mix" } else { "stereo" },
            "frame_ms": 20,
        })
    }

    /// The `input` of the `ready` message.
    pub fn describe_input(&self) -> serde_json::Value {
        json!({
            "codec": if matches!(self.input_codec, SupervisorCodec::Opus) { "opus" } else { "pcm16" },
            "rate": self.input_rate_hz,
            "channels": 1,
            "frame_ms": 20,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_default_and_bad_values_name_their_parameter() {
        let f = SessionFormat::parse("").unwrap();
        assert!(matches!(f.codec, MonitorCodec::Opus) && f.rate_hz == 48_000);
        assert!(matches!(f.input_codec, SupervisorCodec::Opus) && f.input_rate_hz == 48_000);
        let f = SessionFormat::parse(
            "codec=pcm16&channels=stereo&input_codec=opus&input_rate=16000&access_token=x",
        )
        .unwrap();
        assert!(matches!(f.codec, MonitorCodec::Pcm16) && f.rate_hz == 16_000);
        assert!(matches!(f.layout, MonitorLayout::Stereo));
        assert!(matches!(f.input_codec, SupervisorCodec::Opus) && f.input_rate_hz == 16_000);
        for (query, named) in [
            ("codec=mp3", "`codec`"),
            ("rate=44100", "`rate`"),
            ("codec=opus&rate=8000", "`rate`"),
            ("channels=5.1", "`channels`"),
            ("input_rate=abc", "`input_rate`"),
            ("volume=11", "`volume`"),
        ] {
            let err = SessionFormat::parse(query).unwrap_err().to_string();
            assert!(err.contains(named), "{query}: {err}");
        }
    }
}
