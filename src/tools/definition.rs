//! A webhook tool as an organization defines it, and the rules a definition must meet before it
//! is stored or offered to the model.
//!
//! [`WebhookTool::parse`] reads a definition from JSON (the REST body) and
//! [`WebhookTool::validate`] checks one; every refusal is a [`DefinitionError`] naming the field
//! (`"parameters: ..."`), so the API can answer 400 saying what to fix.
//!
//! The URL must be `https`. Plain `http` is accepted only to a loopback host (`127.0.0.0/8`,
//! `::1`, `localhost`), for development and tests, where the endpoint runs on the same machine;
//! credentials in the URL (`https://user:pass@…`) are refused, since the request is signed
//! instead.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::{Host, Url};

/// The engine's own tools: a webhook tool may not take one of these names.
pub const BUILT_INS: &[&str] = &[
    "end_call",
    "transfer",
    "send_sms",
    "lookup_customer",
    "add_note",
];

/// The timeout of a tool that names none.
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
/// The shortest timeout a tool may have.
pub const MIN_TIMEOUT_MS: u32 = 100;
/// The longest timeout a tool may have: a caller on the line should not wait longer.
pub const MAX_TIMEOUT_MS: u32 = 30_000;
/// Longest name, in ASCII characters (the Realtime API's limit on function names).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Longest sentence said while waiting, in characters.
pub const MAX_SAY_WHILE_WAITING_CHARS: usize = 200;
/// Largest parameters schema, serialized: it is sent to the model with every session.
pub const MAX_PARAMETERS_BYTES: usize = 16 * 1024;
/// Most secret fields a tool may list.
pub const MAX_SECRET_FIELDS: usize = 32;

const FIELDS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "url",
    "timeout_ms",
    "say_while_waiting",
    "secret_fields",
];
const REQUIRED: &[&str] = &["name", "description", "parameters", "url"];

/// A function the organization's agent may call, answered by the organization's endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTool {
    /// The function name the model sees: `[a-zA-Z0-9_-]{1,64}`, not one of [`BUILT_INS`].
    pub name: String,
    /// What the tool does and when to use it, for the model (1 to 1024 characters).
    pub description: String,
    /// A JSON Schema of the arguments, whose root is `{"type": "object", …}`.
    pub parameters: Value,
    /// Where calls are POSTed: `https`, or `http` to a loopback host.
    pub url: Url,
    /// The whole call (waiting for a slot, connecting, answering) must end within this.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// What the agent says while the call runs, if anything (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say_while_waiting: Option<String>,
    /// Argument properties (at any depth) whose values are masked in logs, events and messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_fields: Vec<String>,
}

fn default_timeout_ms() -> u32 {
    DEFAULT_TIMEOUT_MS
}

/// A definition refused: which field, and why. Displays as `"<field>: <message>"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DefinitionError {
    /// The field at fault (`"parameters"`, `"secret_fields[1]"`), or `"tool"` for the whole.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl DefinitionError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> DefinitionError {
        DefinitionError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl WebhookTool {
    /// Reads and validates a definition from JSON: unknown and missing fields, wrong types and
    /// every rule of [`WebhookTool::validate`] are refused naming the field.
    pub fn parse(value: &Value) -> Result<WebhookTool, DefinitionError> {
        let Some(object) = value.as_object() else {
            return Err(DefinitionError::new("tool", "must be a JSON object"));
        };
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(DefinitionError::new(
                unknown.as_str(),
                format!("unknown field (expected one of: {})", FIELDS.join(", ")),
            ));
        }
        if let Some(missing) = REQUIRED.iter().find(|k| !object.contains_key(**k)) {
            return Err(DefinitionError::new(*missing, "is required"));
        }
        let tool: WebhookTool = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let field = if path == "." { "tool".to_owned() } else { path };
            DefinitionError::new(field, err.into_inner().to_string())
        })?;
        tool.validate()
    }

    /// Checks every rule, returning the tool (a blank `say_while_waiting` becomes `None`).
    pub fn validate(mut self) -> Result<WebhookTool, DefinitionError> {
        check_name(&self.name)?;
        let description_chars = self.description.chars().count();
        if self.description.trim().is_empty() {
            return Err(DefinitionError::new("description", "must not be empty"));
        }
        if description_chars > MAX_DESCRIPTION_CHARS {
            return Err(DefinitionError::new(
                "description",
                format!("{description_chars} characters, at most {MAX_DESCRIPTION_CHARS}"),
            ));
        }
        check_parameters(&self.parameters)?;
        check_url(&self.url)?;
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(DefinitionError::new(
                "timeout_ms",
                format!(
                    "{} is outside {MIN_TIMEOUT_MS}..={MAX_TIMEOUT_MS} milliseconds",
                    self.timeout_ms
                ),
            ));
        }
        if self
            .say_while_waiting
            .as_ref()
            .is_some_and(|s| s.trim().is_empty())
        {
            self.say_while_waiting = None;
        }
        if let Some(say) = &self.say_while_waiting {
            let chars = say.chars().count();
            if chars > MAX_SAY_WHILE_WAITING_CHARS {
                return Err(DefinitionError::new(
                    "say_while_waiting",
                    format!("{chars} characters, at most {MAX_SAY_WHILE_WAITING_CHARS}"),
                ));
            }
        }
        check_secret_fields(&self.secret_fields)?;
        Ok(self)
    }
}

fn check_name(name: &str) -> Result<(), DefinitionError> {
    if name.is_empty() || name.len() > MAX_NAME_CHARS {
        return Err(DefinitionError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(DefinitionError::new(
            "name",
            "may hold only letters, digits, '_' and '-'",
        ));
    }
    if BUILT_INS.contains(&name) {
        return Err(DefinitionError::new(
            "name",
            format!("{name:?} is a built-in tool"),
        ));
    }
    Ok(())
}

fn check_parameters(parameters: &Value) -> Result<(), DefinitionError> {
    let field = "parameters";
    let Some(root) = parameters.as_object() else {
        return Err(DefinitionError::new(
            field,
            "must be a JSON Schema object whose root is {\"type\": \"object\"}",
        ));
    };
    if root.get("type") != Some(&Value::from("object")) {
        return Err(DefinitionError::new(
            field,
            "the root must be {\"type\": \"object\"}: a tool takes named arguments",
        ));
    }
    let bytes = serde_json::to_vec(parameters).map_or(usize::MAX, |v| v.len());
    if bytes > MAX_PARAMETERS_BYTES {
        return Err(DefinitionError::new(
            field,
            format!("{bytes} bytes, at most {MAX_PARAMETERS_BYTES}"),
        ));
    }
    compile_parameters(parameters)
        .map(|_| ())
        .map_err(|message| DefinitionError::new(field, message))
}

/// Compiles a parameters schema. The error says where in the schema it is wrong.
///
/// Only self-contained schemas compile: `jsonschema` is built without its HTTP and file
/// resolvers, so an external `$ref` is an error, never a request.
pub(crate) fn compile_parameters(parameters: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(parameters).map_err(|err| {
        let at = err.instance_path().as_str();
        if at.is_empty() {
            format!("not a valid JSON Schema: {err}")
        } else {
            format!("not a valid JSON Schema at {at}: {err}")
        }
    })
}

fn check_url(url: &Url) -> Result<(), DefinitionError> {
    let field = "url";
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DefinitionError::new(
            field,
            "must not hold credentials (requests are signed instead)",
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(DefinitionError::new(
            field,
            "must be https (plain http only to a loopback host, for development)",
        )),
        other => Err(DefinitionError::new(
            field,
            format!("scheme {other:?}: must be https"),
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn check_secret_fields(fields: &[String]) -> Result<(), DefinitionError> {
    if fields.len() > MAX_SECRET_FIELDS {
        return Err(DefinitionError::new(
            "secret_fields",
            format!("{} names, at most {MAX_SECRET_FIELDS}", fields.len()),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, name) in fields.iter().enumerate() {
        let field = format!("secret_fields[{i}]");
        if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(DefinitionError::new(
                field,
                format!("must be a property name of 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(DefinitionError::new(
                field,
                format!("{name:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> Value {
        json!({
            "name": "lookup_order",
            "description": "Looks an order up by its number.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "card_number": {"type": "string"}
                },
                "required": ["order_id"]
            },
            "url": "https://orders.example.com/hooks/lookup",
            "say_while_waiting": "One moment, I'm looking that up.",
            "secret_fields": ["card_number"]
        })
    }

    fn refused(change: impl FnOnce(&mut Value)) -> DefinitionError {
        let mut value = definition();
        change(&mut value);
        WebhookTool::parse(&value).expect_err("the definition should be refused")
    }

    #[test]
    fn a_valid_definition_parses_with_the_default_timeout_and_round_trips() {
        let tool = WebhookTool::parse(&definition()).unwrap();
        assert_eq!(tool.name, "lookup_order");
        assert_eq!(tool.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(tool.secret_fields, vec!["card_number".to_owned()]);
        let again = WebhookTool::parse(&serde_json::to_value(&tool).unwrap()).unwrap();
        assert_eq!(again, tool);
    }

    #[test]
    fn names_must_be_short_plain_and_not_built_in() {
        for bad in [
            json!(""),
            json!("has space"),
            json!("é"),
            json!("x".repeat(65)),
        ] {
            let err = refused(|v| v["name"] = bad.clone());
            assert_eq!(err.field, "name", "{bad}: {err}");
        }
        for built_in in BUILT_INS {
            let err = refused(|v| v["name"] = json!(built_in));
            assert_eq!(
                err.to_string(),
                format!("name: {built_in:?} is a built-in tool")
            );
        }
        let mut ok = definition();
        ok["name"] = json!("A-z_09".repeat(10) + "abcd");
        assert!(WebhookTool::parse(&ok).is_ok(), "64 characters are allowed");
    }

    #[test]
    fn descriptions_and_waiting_sentences_are_bounded() {
        assert_eq!(
            refused(|v| v["description"] = json!("  ")).field,
            "description"
        );
        let err = refused(|v| v["description"] = json!("d".repeat(1025)));
        assert_eq!(
            err.to_string(),
            "description: 1025 characters, at most 1024"
        );
        let err = refused(|v| v["say_while_waiting"] = json!("s".repeat(201)));
        assert_eq!(err.field, "say_while_waiting");
        let mut blank = definition();
        blank["say_while_waiting"] = json!(" ");
        assert_eq!(WebhookTool::parse(&blank).unwrap().say_while_waiting, None);
    }

    #[test]
    fn parameters_must_be_an_object_schema_that_compiles() {
        let err = refused(|v| v["parameters"] = json!({"type": "string"}));
        assert!(
            err.to_string().starts_with("parameters: the root must be"),
            "{err}"
        );
        assert_eq!(
            refused(|v| v["parameters"] = json!([1])).field,
            "parameters"
        );
        let err = refused(|v| {
            v["parameters"] = json!({"type": "object", "properties": {"n": {"type": "integr"}}})
        });
        assert!(
            err.to_string()
                .starts_with("parameters: not a valid JSON Schema"),
            "{err}"
        );
        let err = refused(|v| {
            v["parameters"] = json!({"type": "object", "properties": {"n": {"minLength": -1}}})
        });
        assert_eq!(err.field, "parameters", "{err}");
        let err = refused(|v| {
            v["parameters"] = json!({"type": "object", "properties": {"n": {"pattern": "(("}}})
        });
        assert_eq!(err.field, "parameters", "an invalid regex: {err}");
        let err = refused(|v| {
            v["parameters"] =
                json!({"type": "object", "$ref": "https://schemas.example.com/order.json"})
        });
        assert_eq!(
            err.field, "parameters",
            "external references are not fetched: {err}"
        );
        let err = refused(|v| {
            let big = (0..2000).map(|i| (format!("p{i}"), json!({"type": "string"})));
            v["parameters"] =
                json!({"type": "object", "properties": big.collect::<serde_json::Map<_, _>>()})
        });
        assert!(err.message.contains("at most 16384"), "{err}");
    }

    #[test]
    fn urls_are_https_or_loopback_http_without_credentials() {
        for ok in [
            "https://hooks.example.com/x",
            "http://127.0.0.1:8080/tools/x",
            "http://127.3.4.5/x",
            "http://[::1]:9000/x",
            "http://localhost:3000/x",
        ] {
            let mut value = definition();
            value["url"] = json!(ok);
            assert!(WebhookTool::parse(&value).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/x",
            "http://10.0.0.1/x",
            "http://localhost.example.com/x",
            "ftp://hooks.example.com/x",
            "https://user:pass@hooks.example.com/x",
            "https://user@hooks.example.com/x",
            "not a url",
        ] {
            let err = refused(|v| v["url"] = json!(bad));
            assert_eq!(err.field, "url", "{bad}: {err}");
        }
    }

    #[test]
    fn timeouts_are_between_100_ms_and_30_s() {
        for bad in [json!(99), json!(30_001), json!(-1), json!("5000")] {
            let err = refused(|v| v["timeout_ms"] = bad.clone());
            assert_eq!(err.field, "timeout_ms", "{bad}: {err}");
        }
        for ok in [100, 30_000] {
            let mut value = definition();
            value["timeout_ms"] = json!(ok);
            assert_eq!(WebhookTool::parse(&value).unwrap().timeout_ms, ok);
        }
    }

    #[test]
    fn secret_fields_are_distinct_names() {
        let err = refused(|v| v["secret_fields"] = json!(["pin", "pin"]));
        assert_eq!(err.to_string(), "secret_fields[1]: \"pin\" is listed twice");
        assert_eq!(
            refused(|v| v["secret_fields"] = json!([""])).field,
            "secret_fields[0]"
        );
        assert_eq!(
            refused(|v| v["secret_fields"] = json!("pin")).field,
            "secret_fields"
        );
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_are_named() {
        let err = refused(|v| v["retries"] = json!(3));
        assert_eq!(err.field, "retries");
        assert!(err.message.starts_with("unknown field"), "{err}");
        let err = refused(|v| {
            v.as_object_mut().unwrap().remove("url");
        });
        assert_eq!(err.to_string(), "url: is required");
        assert_eq!(
            refused(|v| v["description"] = json!(7)).field,
            "description"
        );
        assert_eq!(refused(|v| *v = json!("tool")).field, "tool");
    }

    #[test]
    fn validate_applies_the_same_rules_to_a_built_tool() {
        let mut tool = WebhookTool::parse(&definition()).unwrap();
        tool.url = Url::parse("http://example.com/").unwrap();
        assert_eq!(tool.validate().unwrap_err().field, "url");
    }
}
