use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn problems(file: Option<&str>, pairs: &[(&str, &str)]) -> Vec<Problem> {
    match Config::from_sources(file, &env(pairs)) {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("expected invalid configuration, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let c = Config::defaults();
    assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.http.public_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(c.storage.data_dir, PathBuf::from("data"));
    assert_eq!(c.storage.recordings_dir, PathBuf::from("data/recordings"));
    assert!(c.database.url.is_managed());
    assert_eq!(c.database.pool_size, 16);
    assert_eq!(c.database.connect_timeout_s, 30);
    assert_eq!(c.ai.audio_format, AudioFormat::G711Ulaw);
    assert_eq!(c.ai.model, "gpt-realtime");
    assert!(c.ai.api_key.is_empty());
    assert!(c.twilio.validate_signatures);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Pretty);
}

#[test]
fn file_overrides_defaults() {
    let file = r#"
        [http]
        listen = "0.0.0.0:9000"
        public_url = "https://calls.example.com"
        [storage]
        data_dir = "/var/lib/switchboard"
        [database]
        pool_size = 4
        [ai]
        audio_format = "pcm16"
        [twilio]
        validate_signatures = false
        [log]
        format = "json"
    "#;
    let c = Config::from_sources(Some(file), &HashMap::new()).unwrap();
    assert_eq!(c.http.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(c.http.public_url.host_str(), Some("calls.example.com"));
    assert_eq!(
        c.storage.recordings_dir,
        PathBuf::from("/var/lib/switchboard/recordings")
    );
    assert_eq!(c.database.pool_size, 4);
    assert_eq!(c.ai.audio_format, AudioFormat::Pcm16);
    assert!(!c.twilio.validate_signatures);
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn environment_overrides_file() {
    let file = "[http]\nlisten = \"0.0.0.0:9000\"\n[database]\npool_size = 4\n";
    let c = Config::from_sources(
        Some(file),
        &env(&[
            ("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:7000"),
            ("SWITCHBOARD_HTTP_PUBLIC_URL", "https://x.example"),
            (
                "SWITCHBOARD_AI_REALTIME_URL",
                "ws://127.0.0.1:9999/v1/realtime",
            ),
            ("SWITCHBOARD_TWILIO_VALIDATE_SIGNATURES", "false"),
        ]),
    )
    .unwrap();
    assert_eq!(c.http.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(c.http.public_url.as_str(), "https://x.example/");
    assert_eq!(c.ai.realtime_url.port(), Some(9999));
    assert!(!c.twilio.validate_signatures);
    // Not overridden: the file's value stays.
    assert_eq!(c.database.pool_size, 4);
}

#[test]
fn conventional_names_and_their_precedence() {
    let c = Config::from_sources(
        None,
        &env(&[
            ("DATABASE_URL", "postgres://u:pw@db.example:5432/calls"),
            ("OPENAI_API_KEY", "sk-conventional"),
            ("TWILIO_AUTH_TOKEN", "tok-conventional"),
            ("SWITCHBOARD_TWILIO_AUTH_TOKEN", "tok-specific"),
        ]),
    )
    .unwrap();
    assert!(!c.database.url.is_managed());
    assert_eq!(c.ai.api_key.expose(), "sk-conventional");
    assert_eq!(c.twilio.auth_token.expose(), "tok-specific");
}

#[test]
fn every_kind_of_invalid_value_is_reported_at_once() {
    let file = r#"
        [http]
        listen = "nonsense"
        public_url = "/relative/path"
        lisen = "typo"
        [database]
        pool_size = 0
        connect_timeout_s = "30"
        [ai]
        audio_format = "mp3"
        realtime_url = "https://not-a-websocket.example"
        [log]
        level = "info,[[["
        [nosuch]
        key = 1
    "#;
    let p = problems(Some(file), &[("SWITCHBOARD_DATABASE_POOLSIZE", "3")]);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "http.listen",
        "http.public_url",
        "http.lisen",
        "database.pool_size",
        "database.connect_timeout_s",
        "ai.audio_format",
        "ai.realtime_url",
        "log.level",
        "nosuch.key",
        "SWITCHBOARD_DATABASE_POOLSIZE",
    ] {
        assert!(keys.contains(&key), "{key} not reported in {keys:?}");
    }
    assert_eq!(p.len(), 10, "one message per problem: {p:#?}");

    let listen = p.iter().find(|p| p.key == "http.listen").unwrap();
    let text = listen.to_string();
    assert!(text.contains("nonsense"), "names the value: {text}");
    assert!(
        text.contains("127.0.0.1:8080"),
        "names the expected form: {text}"
    );

    let typo = p
        .iter()
        .find(|p| p.key == "http.lisen")
        .unwrap()
        .to_string();
    assert!(
        typo.contains("listen, public_url"),
        "suggests known keys: {typo}"
    );

    let wrong_type = p
        .iter()
        .find(|p| p.key == "database.connect_timeout_s")
        .unwrap()
        .to_string();
    assert!(wrong_type.contains("an integer"), "{wrong_type}");

    let format = p
        .iter()
        .find(|p| p.key == "ai.audio_format")
        .unwrap()
        .to_string();
    assert!(
        format.contains("mp3") && format.contains("g711_ulaw or pcm16"),
        "{format}"
    );
}

#[test]
fn bad_environment_value_names_key_and_variable() {
    let p = problems(None, &[("SWITCHBOARD_HTTP_LISTEN", "nonsense")]);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].key, "http.listen");
    assert_eq!(p[0].source, Source::Env("SWITCHBOARD_HTTP_LISTEN".into()));
    assert!(p[0].to_string().contains("SWITCHBOARD_HTTP_LISTEN"));
}

#[test]
fn toml_syntax_error_is_reported() {
    let err = Config::from_sources(Some("[http\nlisten="), &HashMap::new()).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax(_)), "{err:?}");
}

#[test]
fn secrets_are_redacted_everywhere() {
    let c = Config::from_sources(
        None,
        &env(&[
            ("OPENAI_API_KEY", "sk-very-secret"),
            ("TWILIO_AUTH_TOKEN", "twilio-very-secret"),
            (
                "DATABASE_URL",
                "postgres://calls:db-very-secret@db.example/calls",
            ),
        ]),
    )
    .unwrap();
    for shown in [c.to_redacted_toml(), format!("{c:?}"), c.to_string()] {
        assert!(!shown.contains("very-secret"), "secret leaked: {shown}");
    }
    let printed = c.to_redacted_toml();
    assert!(printed.contains("api_key = \"<redacted>\""), "{printed}");
    assert!(
        printed.contains("postgres://calls:REDACTED@db.example/calls"),
        "{printed}"
    );

    // A secret with a bad value is not echoed in the error either.
    let p = problems(
        None,
        &[(
            "DATABASE_URL",
            "postgres://u:db-very-secret@host:notaport/x",
        )],
    );
    assert!(!p[0].to_string().contains("very-secret"), "{}", p[0]);
}

#[test]
fn keyword_form_database_url_is_redacted() {
    let c = Config::from_sources(
        None,
        &env(&[(
            "DATABASE_URL",
            "host=/tmp user=calls password=hunter2 dbname=calls",
        )]),
    )
    .unwrap();
    assert_eq!(
        c.database.url.redacted(),
        "host=/tmp user=calls password=REDACTED dbname=calls"
    );
}

#[test]
fn printed_configuration_loads_back_to_the_same() {
    let c =
        Config::from_sources(None, &env(&[("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:7000")])).unwrap();
    let again = Config::from_sources(Some(&c.to_redacted_toml()), &HashMap::new()).unwrap();
    assert_eq!(again.to_redacted_toml(), c.to_redacted_toml());
}

/// `config.toml` documents every setting with its default, in one commented line each.
#[test]
fn config_toml_documents_every_setting_with_its_default() {
    let doc = include_str!("../../config.toml");
    let mut section = "";
    let mut documented = Vec::new();
    for line in doc.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
        } else if let Some((key, value)) = line.strip_prefix("# ").and_then(|r| r.split_once(" = "))
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            let (value, comment) = value.split_once("  # ").expect("a one-line comment");
            assert!(!comment.trim().is_empty());
            documented.push((format!("{section}.{key}"), value.to_owned()));
        }
    }
    for setting in SETTINGS {
        let (_, value) = documented
            .iter()
            .find(|(k, _)| *k == setting.dotted())
            .unwrap_or_else(|| panic!("{} is not documented in config.toml", setting.dotted()));
        let parsed: toml::Value =
            toml::from_str::<toml::Table>(&format!("v = {value}")).unwrap()["v"].clone();
        let text = match parsed {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        assert_eq!(
            text,
            setting.default,
            "default of {} in config.toml",
            setting.dotted()
        );
    }
    assert_eq!(
        documented.len(),
        SETTINGS.len(),
        "config.toml documents unknown keys"
    );
    // And the file as shipped (all commented) loads.
    Config::from_sources(Some(doc), &HashMap::new()).unwrap();
}
