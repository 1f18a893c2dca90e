//! Request validation: the body of `POST /v1/chat/completions` as the service checks it, each
//! failure a 400 naming the parameter (`messages[1].role`, `response_format.json_schema.name`).
//!
//! Beyond the service: `stream: true`, `n` above 1, roles `tool`/`function`, non-text content
//! parts and `response_format` `json_object` are refused as unsupported by this peer, and a
//! `json_schema` format must be `strict: true` (the engine always asks for strict output).

use serde_json::{Map, Value};

use super::config::RestPeerConfig;
use super::error::RequestError;
use super::log::ChatMessage;
use super::schema;

/// Top-level parameters the service knows (anything else is an unrecognized argument).
const PARAMETERS: [&str; 37] = [
    "model",
    "messages",
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "moderation",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// Roles of the messages the peer reads.
const ROLES: [&str; 4] = ["system", "developer", "user", "assistant"];

/// Path of the schema in the request.
pub(super) const SCHEMA_PARAM: &str = "response_format.json_schema.schema";

/// A valid request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ChatRequest {
    pub(super) model: String,
    pub(super) messages: Vec<ChatMessage>,
    pub(super) format: Format,
    /// `max_completion_tokens` (or the older `max_tokens`).
    pub(super) max_tokens: Option<u64>,
}

/// What the answer must look like.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Format {
    /// No `response_format` (or `type: text`): plain text.
    Text,
    /// Structured output that fits `schema`.
    JsonSchema { name: String, schema: Value },
}

/// Validates a parsed body; `config` says which models are served.
pub(super) fn chat_request(
    body: &Value,
    config: &RestPeerConfig,
) -> Result<ChatRequest, RequestError> {
    let Some(body) = body.as_object() else {
        return Err(RequestError::InvalidJson {
            detail: "the body must be a JSON object".into(),
        });
    };
    if let Some(unknown) = body.keys().find(|key| !PARAMETERS.contains(&key.as_str())) {
        return Err(RequestError::invalid(
            unknown.as_str(),
            "unknown_parameter",
            format!("Unrecognized request argument supplied: {unknown}"),
        ));
    }
    let model = string(body, "model", "model")?;
    if model.is_empty() {
        return Err(RequestError::invalid(
            "model",
            "invalid_value",
            "you must provide a model parameter",
        ));
    }
    if !config.serves(model) {
        return Err(RequestError::ModelNotFound {
            model: model.to_owned(),
        });
    }
    let messages = messages(body)?;
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(RequestError::invalid(
            "stream",
            "invalid_value",
            "This peer does not stream: omit 'stream' or set it to false.",
        ));
    }
    if positive(body, "n")?.is_some_and(|n| n != 1) {
        return Err(RequestError::invalid(
            "n",
            "invalid_value",
            "This peer answers with one choice: omit 'n' or set it to 1.",
        ));
    }
    let max_tokens = match positive(body, "max_completion_tokens")? {
        Some(limit) => Some(limit),
        None => positive(body, "max_tokens")?,
    };
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        format: format(body)?,
        max_tokens,
    })
}

fn missing(param: &str) -> RequestError {
    RequestError::invalid(
        param,
        "missing_required_parameter",
        format!("Missing required parameter: '{param}'."),
    )
}

fn wrong_type(param: &str, expected: &str, got: &Value) -> RequestError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    RequestError::invalid(
        param,
        "invalid_type",
        format!("Invalid type for '{param}': expected {expected}, but got {got} instead."),
    )
}

fn string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<&'a str, RequestError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(missing(param)),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(wrong_type(param, "a string", other)),
    }
}

/// An optional integer parameter that must be at least 1.
fn positive(body: &Map<String, Value>, key: &str) -> Result<Option<u64>, RequestError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(0) => Err(RequestError::invalid(
                key,
                "integer_below_min_value",
                format!(
                    "Invalid '{key}': integer below minimum value. Expected a value >= 1, but got 0 instead."
                ),
            )),
            Some(n) => Ok(Some(n)),
            None => Err(wrong_type(key, "an integer", value)),
        },
    }
}

fn messages(body: &Map<String, Value>) -> Result<Vec<ChatMessage>, RequestError> {
    let list = match body.get("messages") {
        None | Some(Value::Null) => return Err(missing("messages")),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(wrong_type("messages", "an array", other)),
    };
    if list.is_empty() {
        return Err(RequestError::invalid(
            "messages",
            "empty_array",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an \
             empty array instead.",
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, message)| {
            let param = format!("messages[{i}]");
            let message = message
                .as_object()
                .ok_or_else(|| wrong_type(&param, "an object", message))?;
            let role_param = format!("{param}.role");
            let role = string(message, "role", &role_param)?;
            if !ROLES.contains(&role) {
                return Err(RequestError::invalid(
                    role_param,
                    "invalid_value",
                    format!(
                        "Invalid value: '{role}'. Supported values (by this peer) are: 'system', \
                         'developer', 'user' and 'assistant'."
                    ),
                ));
            }
            Ok(ChatMessage {
                role: role.to_owned(),
                content: content(message, &format!("{param}.content"))?,
            })
        })
        .collect()
}

/// A message's text: a string, or an array of `{"type": "text", "text": …}` parts (joined with
/// newlines).
fn content(message: &Map<String, Value>, param: &str) -> Result<String, RequestError> {
    let parts = match message.get("content") {
        None | Some(Value::Null) => return Err(missing(param)),
        Some(Value::String(text)) => return Ok(text.clone()),
        Some(Value::Array(parts)) if !parts.is_empty() => parts,
        Some(Value::Array(_)) => {
            return Err(RequestError::invalid(
                param,
                "empty_array",
                format!("Invalid '{param}': empty array. Expected an array with minimum length 1."),
            ));
        }
        Some(other) => return Err(wrong_type(param, "a string or an array", other)),
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let part_param = format!("{param}[{j}]");
        let part = part
            .as_object()
            .ok_or_else(|| wrong_type(&part_param, "an object", part))?;
        let kind = string(part, "type", &format!("{part_param}.type"))?;
        if kind != "text" {
            return Err(RequestError::invalid(
                format!("{part_param}.type"),
                "invalid_value",
                format!("Invalid value: '{kind}'. This peer reads 'text' parts only."),
            ));
        }
        texts.push(string(part, "text", &format!("{part_param}.text"))?);
    }
    Ok(texts.join("\n"))
}

fn format(body: &Map<String, Value>) -> Result<Format, RequestError> {
    let format = match body.get("response_format") {
        None | Some(Value::Null) => return Ok(Format::Text),
        Some(Value::Object(format)) => format,
        Some(other) => return Err(wrong_type("response_format", "an object", other)),
    };
    match string(format, "type", "response_format.type")? {
        "text" => return Ok(Format::Text),
        "json_schema" => {}
        other => {
            return Err(RequestError::invalid(
                "response_format.type",
                "invalid_value",
                format!(
                    "Invalid value: '{other}'. Supported values (by this peer) are: 'text' and \
                     'json_schema'."
                ),
            ));
        }
    }
    let spec = match format.get("json_schema") {
        None | Some(Value::Null) => return Err(missing("response_format.json_schema")),
        Some(Value::Object(spec)) => spec,
        Some(other) => {
            return Err(wrong_type(
                "response_format.json_schema",
                "an object",
                other,
            ));
        }
    };
    let name = string(spec, "name", "response_format.json_schema.name")?;
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(RequestError::invalid(
            "response_format.json_schema.name",
            "invalid_value",
            format!(
                "Invalid 'response_format.json_schema.name': string does not match pattern. \
                 Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$', got \
                 '{name}'."
            ),
        ));
    }
    if let Some(description) = spec.get("description")
        && !description.is_string()
    {
        return Err(wrong_type(
            "response_format.json_schema.description",
            "a string",
            description,
        ));
    }
    match spec.get("strict") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) | None | Some(Value::Null) => {
            return Err(RequestError::invalid(
                "response_format.json_schema.strict",
                "invalid_value",
                "This peer serves strict structured outputs only: set 'strict': true.",
            ));
        }
        Some(other) => {
            return Err(wrong_type(
                "response_format.json_schema.strict",
                "a boolean",
                other,
            ));
        }
    }
    let schema = match spec.get("schema") {
        None | Some(Value::Null) => return Err(missing(SCHEMA_PARAM)),
        Some(schema) => schema,
    };
    schema::check_strict(schema, SCHEMA_PARAM)?;
    Ok(Format::JsonSchema {
        name: name.to_owned(),
        schema: schema.clone(),
    })
}
