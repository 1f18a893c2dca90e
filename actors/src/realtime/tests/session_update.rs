//! Field-by-field checks of the GA and beta `session.update` shapes.

use serde_json::{Value, json};

use crate::realtime::{
    AudioFormat, Dialect, MaxOutputTokens, NoiseReduction, SessionConfig, Tool, ToolChoice,
};

fn config(audio_format: AudioFormat) -> SessionConfig {
    SessionConfig {
        instructions: "You are Switchboard's receptionist. Say \"hi\".\nBe brief.".to_owned(),
        audio_format,
        language: Some("en".to_owned()),
        tools: vec![Tool::new(
            "transfer_call",
            "Transfer the caller to a human.",
            json!({"type": "object", "properties": {"department": {"type": "string"}},
                   "required": ["department"]}),
        )],
        ..SessionConfig::default()
    }
}

fn encode(config: &SessionConfig, dialect: Dialect) -> Value {
    let text = config.session_update(dialect);
    let value: Value = serde_json::from_str(&text).expect("session.update is JSON");
    assert_eq!(value["type"], "session.update");
    assert_eq!(value.as_object().map(|o| o.len()), Some(2), "{value}");
    value["session"].clone()
}

fn expected_tools() -> Value {
    json!([{
        "type": "function",
        "name": "transfer_call",
        "description": "Transfer the caller to a human.",
        "parameters": {"type": "object", "properties": {"department": {"type": "string"}},
                       "required": ["department"]}
    }])
}

#[test]
fn ga_session_update_ulaw() {
    let config = config(AudioFormat::G711Ulaw);
    let s = encode(&config, Dialect::Ga);
    assert_eq!(s["type"], "realtime");
    assert_eq!(s["model"], "gpt-realtime");
    assert_eq!(s["output_modalities"], json!(["audio"]));
    assert_eq!(s["instructions"], config.instructions.as_str());
    let input = &s["audio"]["input"];
    assert_eq!(input["format"], json!({"type": "audio/pcmu"}));
    assert_eq!(
        input["transcription"],
        json!({"model": "gpt-4o-mini-transcribe", "language": "en"})
    );
    assert_eq!(input["noise_reduction"], json!({"type": "near_field"}));
    assert_eq!(
        input["turn_detection"],
        json!({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
               "silence_duration_ms": 500, "create_response": true,
               "interrupt_response": true, "idle_timeout_ms": null})
    );
    assert_eq!(input.as_object().map(|o| o.len()), Some(4));
    assert_eq!(
        s["audio"]["output"],
        json!({"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0})
    );
    assert_eq!(s["tools"], expected_tools());
    assert_eq!(s["tool_choice"], "auto");
    assert_eq!(s["max_output_tokens"], "inf");
    for beta_only in [
        "temperature",
        "modalities",
        "voice",
        "input_audio_format",
        "turn_detection",
        "max_response_output_tokens",
    ] {
        assert!(s.get(beta_only).is_none(), "GA must not send {beta_only}");
    }
    assert_eq!(s.as_object().map(|o| o.len()), Some(8), "{s}");
}

#[test]
fn ga_session_update_pcm16() {
    let s = encode(&config(AudioFormat::Pcm16), Dialect::Ga);
    let pcm = json!({"type": "audio/pcm", "rate": 24000});
    assert_eq!(s["audio"]["input"]["format"], pcm);
    assert_eq!(s["audio"]["output"]["format"], pcm);
}

#[test]
fn ga_options_are_encoded() {
    let mut config = config(AudioFormat::G711Alaw);
    config.language = None;
    config.noise_reduction = None;
    config.vad.idle_timeout_ms = Some(6000);
    config.speed = 9.0;
    config.tool_choice = ToolChoice::Required;
    config.max_output_tokens = MaxOutputTokens::Limit(512);
    let s = encode(&config, Dialect::Ga);
    let input = &s["audio"]["input"];
    assert_eq!(input["format"], json!({"type": "audio/pcma"}));
    assert_eq!(
        input["transcription"],
        json!({"model": "gpt-4o-mini-transcribe"})
    );
    assert_eq!(input["noise_reduction"], Value::Null);
    assert_eq!(input["turn_detection"]["idle_timeout_ms"], 6000);
    assert_eq!(s["audio"]["output"]["speed"], 1.5, "speed is clamped");
    assert_eq!(s["tool_choice"], "required");
    assert_eq!(s["max_output_tokens"], 512);

    config.noise_reduction = Some(NoiseReduction::FarField);
    let s = encode(&config, Dialect::Ga);
    assert_eq!(
        s["audio"]["input"]["noise_reduction"],
        json!({"type": "far_field"})
    );
}

#[test]
fn beta_session_update_ulaw() {
    let mut config = config(AudioFormat::G711Ulaw);
    config.voice = "alloy".to_owned();
    let s = encode(&config, Dialect::Beta);
    assert_eq!(s["modalities"], json!(["text", "audio"]));
    assert_eq!(s["instructions"], config.instructions.as_str());
    assert_eq!(s["voice"], "alloy");
    assert_eq!(s["input_audio_format"], "g711_ulaw");
    assert_eq!(s["output_audio_format"], "g711_ulaw");
    assert_eq!(
        s["input_audio_transcription"],
        json!({"model": "gpt-4o-mini-transcribe", "language": "en"})
    );
    assert_eq!(
        s["turn_detection"],
        json!({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
               "silence_duration_ms": 500, "create_response": true,
               "interrupt_response": true})
    );
    assert_eq!(s["tools"], expected_tools());
    assert_eq!(s["tool_choice"], "auto");
    assert_eq!(s["temperature"], 0.8);
    assert_eq!(s["max_response_output_tokens"], "inf");
    for ga_only in [
        "type",
        "model",
        "audio",
        "output_modalities",
        "max_output_tokens",
    ] {
        assert!(s.get(ga_only).is_none(), "beta must not send {ga_only}");
    }
    assert_eq!(s.as_object().map(|o| o.len()), Some(11), "{s}");
}

#[test]
fn beta_session_update_pcm16() {
    let mut config = config(AudioFormat::Pcm16);
    config.temperature = 0.1;
    config.language = None;
    config.max_output_tokens = MaxOutputTokens::Limit(4096);
    let s = encode(&config, Dialect::Beta);
    assert_eq!(s["input_audio_format"], "pcm16");
    assert_eq!(s["output_audio_format"], "pcm16");
    assert_eq!(s["temperature"], 0.6, "temperature is clamped to 0.6–1.2");
    assert_eq!(
        s["input_audio_transcription"],
        json!({"model": "gpt-4o-mini-transcribe"})
    );
    assert_eq!(s["max_response_output_tokens"], 4096);
}

#[test]
fn session_update_starts_with_type() {
    for dialect in Dialect::ALL {
        let text = SessionConfig::for_dialect(dialect).session_update(dialect);
        assert!(
            text.starts_with(r#"{"type":"session.update","session":{"#),
            "{text}"
        );
    }
}

#[test]
fn defaults_per_dialect() {
    let ga = SessionConfig::default();
    assert_eq!(ga.model, "gpt-realtime");
    assert_eq!(ga.voice, "marin");
    assert_eq!(ga.audio_format, AudioFormat::G711Ulaw);
    assert_eq!(ga.transcription_model, "gpt-4o-mini-transcribe");
    assert_eq!(Dialect::for_model(&ga.model), Dialect::Ga);
    let beta = SessionConfig::for_dialect(Dialect::Beta);
    assert_eq!(Dialect::for_model(&beta.model), Dialect::Beta);
    assert_eq!(beta.voice, "alloy");
    assert_eq!(beta.vad, ga.vad);
}
