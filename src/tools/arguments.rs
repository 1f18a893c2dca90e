//! The model's arguments to a webhook tool: checked against the tool's schema before anything is
//! sent, and masked before they are logged or shown.
//!
//! [`check_arguments`] turns the Realtime API's arguments string into JSON that fits the tool's
//! `parameters`, or an [`ArgumentsError`] that goes back to the model as the function output so
//! it can correct itself. The error lists the failing paths (at most [`MAX_LISTED_ERRORS`], in
//! at most [`MAX_ERROR_CHARS`] characters) and never quotes the argument values, which may be
//! secret.
//!
//! [`masked`] replaces the values of a tool's `secret_fields` (at any depth) with `"***"`: what
//! events, system messages and logs show of the arguments.

use serde_json::Value;

use super::definition::{WebhookTool, compile_parameters};

/// Most schema violations listed in one error.
pub const MAX_LISTED_ERRORS: usize = 5;
/// Longest list of violations, in characters.
pub const MAX_ERROR_CHARS: usize = 1000;
/// What a secret value is replaced with.
pub const MASK: &str = "***";

/// Arguments that cannot be forwarded to the tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentsError {
    /// The arguments string is not JSON (the parser's message: position, not content).
    #[error("the arguments are not JSON: {0}")]
    NotJson(String),
    /// JSON that does not fit the parameters: `"<path>: <message>"` per violation.
    #[error("the arguments do not match the tool's parameters: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The tool's own schema does not compile (a definition stored before it was validated).
    #[error("the tool's parameters are not a valid schema: {0}")]
    Schema(String),
}

/// Parses `arguments` and checks it against `tool.parameters`. A blank string stands for `{}`
/// (a function without arguments).
pub fn check_arguments(tool: &WebhookTool, arguments: &str) -> Result<Value, ArgumentsError> {
    let value: Value = if arguments.trim().is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(arguments).map_err(|err| ArgumentsError::NotJson(err.to_string()))?
    };
    let validator = compile_parameters(&tool.parameters).map_err(ArgumentsError::Schema)?;
    let mut listed = Vec::new();
    let mut chars = 0;
    let mut more = 0usize;
    for error in validator.iter_errors(&value) {
        let path = error.instance_path().as_str();
        let path = if path.is_empty() { "/" } else { path };
        // `masked()` words the message without the offending value.
        let line = format!("{path}: {}", error.masked());
        let line_chars = line.chars().count();
        if listed.len() < MAX_LISTED_ERRORS && chars + line_chars <= MAX_ERROR_CHARS {
            chars += line_chars;
            listed.push(line);
        } else if listed.is_empty() {
            listed.push(line.chars().take(MAX_ERROR_CHARS).collect());
            chars = MAX_ERROR_CHARS;
        } else {
            more += 1;
        }
    }
    if listed.is_empty() {
        return Ok(value);
    }
    if more > 0 {
        listed.push(format!("and {more} more"));
    }
    Err(ArgumentsError::Invalid(listed))
}

/// `arguments` with the value of every property named in `secret_fields`, at any depth, replaced
/// by [`MASK`].
pub fn masked(arguments: &Value, secret_fields: &[String]) -> Value {
    match arguments {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let value = if secret_fields.iter().any(|f| f == key) {
                        Value::from(MASK)
                    } else {
                        masked(value, secret_fields)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| masked(item, secret_fields))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool() -> WebhookTool {
        WebhookTool::parse(&json!({
            "name": "pay",
            "description": "Takes a payment.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string", "pattern": "^A-[0-9]+$"},
                    "amount": {"type": "integer", "minimum": 1},
                    "card_number": {"type": "string", "minLength": 12}
                },
                "required": ["order_id", "amount"],
                "additionalProperties": false
            },
            "url": "https://pay.example.com/hook",
            "secret_fields": ["card_number"]
        }))
        .unwrap()
    }

    #[test]
    fn matching_arguments_come_back_parsed() {
        let value = check_arguments(
            &tool(),
            r#"{"order_id":"A-7","amount":12,"card_number":"4111111111111111"}"#,
        )
        .unwrap();
        assert_eq!(value["amount"], 12);
    }

    #[test]
    fn not_json_is_an_error_that_does_not_quote_the_text() {
        let err =
            check_arguments(&tool(), r#"{"order_id": "A-7", card 4111111111111111"#).unwrap_err();
        assert!(matches!(err, ArgumentsError::NotJson(_)), "{err}");
        assert!(!err.to_string().contains("4111"), "{err}");
    }

    #[test]
    fn mismatches_list_each_failing_path_without_the_values() {
        let err = check_arguments(
            &tool(),
            r#"{"order_id":"B-1","amount":"12","card_number":"4111","extra":1}"#,
        )
        .unwrap_err();
        let ArgumentsError::Invalid(lines) = &err else {
            panic!("{err}");
        };
        let text = err.to_string();
        assert!(lines.iter().any(|l| l.starts_with("/order_id: ")), "{text}");
        assert!(lines.iter().any(|l| l.starts_with("/amount: ")), "{text}");
        assert!(
            lines.iter().any(|l| l.starts_with("/card_number: ")),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("/: ") && l.contains("extra")),
            "{text}"
        );
        assert!(!text.contains("4111") && !text.contains("B-1"), "{text}");
        let missing = check_arguments(&tool(), "{}").unwrap_err().to_string();
        assert!(
            missing.contains("order_id") && missing.contains("amount"),
            "{missing}"
        );
        let not_object = check_arguments(&tool(), "[1]").unwrap_err();
        assert!(
            matches!(not_object, ArgumentsError::Invalid(_)),
            "{not_object}"
        );
    }

    #[test]
    fn the_list_of_violations_is_bounded() {
        let many = WebhookTool::parse(&json!({
            "name": "many",
            "description": "d",
            "parameters": {
                "type": "object",
                "additionalProperties": {"type": "integer"}
            },
            "url": "https://x.example.com/"
        }))
        .unwrap();
        let args: serde_json::Map<String, Value> = (0..50)
            .map(|i| (format!("p{i:02}_{}", "x".repeat(300)), json!("s")))
            .collect();
        let err = check_arguments(&many, &Value::Object(args).to_string()).unwrap_err();
        let ArgumentsError::Invalid(lines) = &err else {
            panic!("{err}");
        };
        assert!(lines.len() <= MAX_LISTED_ERRORS + 1, "{lines:?}");
        assert_eq!(
            lines.last().map(|l| l.starts_with("and ")),
            Some(true),
            "{lines:?}"
        );
        let listed: usize = lines[..lines.len() - 1]
            .iter()
            .map(|l| l.chars().count())
            .sum();
        assert!(listed <= MAX_ERROR_CHARS, "{listed}");
    }

    #[test]
    fn blank_arguments_stand_for_an_empty_object() {
        let no_params = WebhookTool::parse(&json!({
            "name": "ping",
            "description": "d",
            "parameters": {"type": "object"},
            "url": "https://x.example.com/"
        }))
        .unwrap();
        assert_eq!(check_arguments(&no_params, "").unwrap(), json!({}));
        assert!(
            check_arguments(&tool(), " ").is_err(),
            "required fields still apply"
        );
    }

    #[test]
    fn masking_hides_secret_fields_at_any_depth_and_keeps_the_rest() {
        let args = json!({
            "order_id": "A-7",
            "card_number": "4111111111111111",
            "payer": {"name": "Ada", "card_number": {"pan": "4111"}, "pin": 1234},
            "history": [{"pin": "0000", "note": "ok"}]
        });
        let secret = vec!["card_number".to_owned(), "pin".to_owned()];
        assert_eq!(
            masked(&args, &secret),
            json!({
                "order_id": "A-7",
                "card_number": "***",
                "payer": {"name": "Ada", "card_number": "***", "pin": "***"},
                "history": [{"pin": "***", "note": "ok"}]
            })
        );
        assert_eq!(masked(&args, &[]), args, "nothing secret, nothing masked");
    }
}
