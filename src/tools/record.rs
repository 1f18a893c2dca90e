//! What an event and a system message say of one webhook tool call: the tool, the masked
//! arguments, the status, the latency and the size of the answer. The secret fields' values are
//! masked here, so nothing downstream (events, the transcript, logs) ever holds them.

use serde::Serialize;
use serde_json::Value;

use super::arguments::masked;
use super::client::ToolOutcome;
use super::definition::WebhookTool;

/// Longest rendering of the arguments in [`ToolCallRecord::message`], in characters.
pub const MAX_MESSAGE_ARGUMENTS_CHARS: usize = 500;

/// One tool call as recorded: the payload of its event and the source of its system message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallRecord {
    /// The tool's name.
    pub name: String,
    /// The model's id of the call.
    pub tool_call_id: String,
    /// The arguments with the tool's secret fields masked. Arguments that are not JSON are not
    /// shown (they could hold anything): a string says how long they were.
    pub arguments: Value,
    /// [`ToolStatus::as_str`](super::ToolStatus::as_str).
    pub status: &'static str,
    /// The endpoint's HTTP status when it answered other than 2xx.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub result_bytes: usize,
}

impl ToolCallRecord {
    /// The record of a call of `tool` with the model's `arguments` string that ended in
    /// `outcome`.
    pub fn new(
        tool: &WebhookTool,
        tool_call_id: &str,
        arguments: &str,
        outcome: &ToolOutcome,
    ) -> ToolCallRecord {
        let arguments = if arguments.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(value) => masked(&value, &tool.secret_fields),
                Err(_) => Value::from(format!(
                    "<not JSON, {} characters>",
                    arguments.chars().count()
                )),
            }
        };
        ToolCallRecord {
            name: tool.name.clone(),
            tool_call_id: tool_call_id.to_owned(),
            arguments,
            status: outcome.status.as_str(),
            http_status: outcome.status.http_status(),
            latency_ms: u64::try_from(outcome.latency.as_millis()).unwrap_or(u64::MAX),
            result_bytes: outcome.result_bytes,
        }
    }

    /// The system message of the call, e.g.
    /// `tool pay {"card_number":"***","order_id":"A-7"}: ok in 120 ms, 42 bytes`.
    pub fn message(&self) -> String {
        let mut arguments = self.arguments.to_string();
        if arguments.chars().count() > MAX_MESSAGE_ARGUMENTS_CHARS {
            arguments = arguments
                .chars()
                .take(MAX_MESSAGE_ARGUMENTS_CHARS)
                .chain("…".chars())
                .collect();
        }
        let status = match self.http_status {
            Some(code) => format!("HTTP {code}"),
            None => self.status.to_owned(),
        };
        format!(
            "tool {} {arguments}: {status} in {} ms, {} bytes",
            self.name, self.latency_ms, self.result_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::tools::ToolStatus;

    fn tool() -> WebhookTool {
        WebhookTool::parse(&json!({
            "name": "pay",
            "description": "Takes a payment.",
            "parameters": {"type": "object"},
            "url": "https://pay.example.com/hook",
            "secret_fields": ["card_number"]
        }))
        .unwrap()
    }

    fn outcome(status: ToolStatus) -> ToolOutcome {
        ToolOutcome {
            status,
            output: String::new(),
            latency: Duration::from_millis(120),
            result_bytes: 42,
        }
    }

    #[test]
    fn the_record_masks_secret_fields_and_says_how_the_call_ended() {
        let record = ToolCallRecord::new(
            &tool(),
            "call_1",
            r#"{"order_id":"A-7","card_number":"4111111111111111"}"#,
            &outcome(ToolStatus::Ok),
        );
        let event = serde_json::to_string(&record).unwrap();
        assert!(!event.contains("4111"), "{event}");
        assert_eq!(record.arguments["card_number"], "***");
        assert_eq!(record.arguments["order_id"], "A-7");
        let message = record.message();
        assert!(message.starts_with("tool pay {"), "{message}");
        assert!(message.ends_with(": ok in 120 ms, 42 bytes"), "{message}");
        assert!(!message.contains("4111"), "{message}");
    }

    #[test]
    fn arguments_that_are_not_json_are_not_shown() {
        let record = ToolCallRecord::new(
            &tool(),
            "call_2",
            "card_number=4111111111111111",
            &outcome(ToolStatus::InvalidArguments),
        );
        assert_eq!(record.arguments, json!("<not JSON, 28 characters>"));
        assert_eq!(record.status, "invalid_arguments");
    }

    #[test]
    fn an_http_error_names_the_code_and_long_arguments_are_cut() {
        let long = json!({"note": "n".repeat(2000)}).to_string();
        let record =
            ToolCallRecord::new(&tool(), "c", &long, &outcome(ToolStatus::HttpStatus(502)));
        assert_eq!(record.http_status, Some(502));
        let message = record.message();
        assert!(message.contains(": HTTP 502 in 120 ms"), "{message}");
        assert!(message.chars().count() < 600, "{}", message.chars().count());
    }
}
