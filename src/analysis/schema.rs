//! The answer the model must give: its strict JSON schema (PROTOCOLS.md §F: root object, every
//! property required, `additionalProperties: false` everywhere, nullable instead of optional), and
//! the check of an answer against it. The model's text is data: an answer that is not JSON, misses
//! a property, adds one, or holds a value outside its type, enum or range is rejected whole, never
//! stored in part.

use serde_json::{Map, Value, json};
use switchboard_actors::domain::{Outcome, Sentiment};

use super::fields::{AnalysisField, FieldType, RESERVED};

/// The schema's `name` (`[a-zA-Z0-9_-]`, at most 64 characters).
pub const SCHEMA_NAME: &str = "conversation_analysis";
/// Longest summary kept (characters); the model is told half of it.
pub const MAX_SUMMARY_CHARS: usize = 4000;
/// Longest subject kept (characters).
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest custom text value kept (characters).
pub const MAX_TEXT_CHARS: usize = 1000;

/// The analysis of one conversation, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub summary: String,
    pub subject: Option<String>,
    pub sentiment: Option<Sentiment>,
    /// 1 to 10.
    pub satisfaction_score: Option<i16>,
    pub outcome: Outcome,
    /// The organization's fields by name (null when the model could not tell).
    pub custom: Map<String, Value>,
    /// Why no model was asked, when none was.
    pub skipped: Option<String>,
}

impl Verdict {
    /// The verdict on a conversation the model is not asked about: unresolved, no score.
    pub fn without_model(reason: &str, fields: &[AnalysisField]) -> Verdict {
        Verdict {
            summary: reason.to_owned(),
            subject: None,
            sentiment: None,
            satisfaction_score: None,
            outcome: Outcome::Unresolved,
            custom: fields
                .iter()
                .map(|f| (f.name.clone(), Value::Null))
                .collect(),
            skipped: Some(reason.to_owned()),
        }
    }
}

/// The `response_format` of the request: the strict schema, with the organization's fields.
pub fn response_format(fields: &[AnalysisField]) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": SCHEMA_NAME,
            "strict": true,
            "schema": schema(fields),
        }
    })
}

/// The schema itself.
pub fn schema(fields: &[AnalysisField]) -> Value {
    let sentiments: Vec<&str> = Sentiment::ALL.iter().map(|s| s.as_str()).collect();
    let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    let mut properties = json!({
        "summary": {
            "type": "string",
            "description": format!("What the conversation was about and how it ended, for a supervisor: at most {} characters.", MAX_SUMMARY_CHARS / 2),
        },
        "subject": {
            "type": "string",
            "description": "A title for the conversation, at most 10 words.",
        },
        "sentiment": {
            "type": "string",
            "enum": sentiments,
            "description": "The customer's overall sentiment.",
        },
        "satisfaction_score": {
            "type": "integer",
            "description": "The customer's satisfaction, 1-10 (1: very unhappy, 10: delighted).",
        },
        "outcome": {
            "type": "string",
            "enum": outcomes,
            "description": "What the conversation achieved; unresolved when none of the others.",
        },
    });
    let mut required: Vec<&str> = RESERVED[..RESERVED.len() - 1].to_vec();
    if !fields.is_empty() {
        let custom: Map<String, Value> = fields
            .iter()
            .map(|f| (f.name.clone(), field_schema(f)))
            .collect();
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        properties["custom"] = json!({
            "type": "object",
            "additionalProperties": false,
            "required": names,
            "properties": custom,
            "description": "The organization's own questions; null where the conversation does not tell.",
        });
        required.push("custom");
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}

fn field_schema(field: &AnalysisField) -> Value {
    let mut schema = match field.field_type {
        FieldType::Text => json!({ "type": ["string", "null"] }),
        FieldType::Number => json!({ "type": ["number", "null"] }),
        FieldType::Boolean => json!({ "type": ["boolean", "null"] }),
        FieldType::OneOf => {
            let mut values: Vec<Value> = field.options.iter().map(|o| json!(o)).collect();
            values.push(Value::Null);
            json!({ "type": ["string", "null"], "enum": values })
        }
    };
    if !field.description.is_empty() {
        schema["description"] = json!(field.description);
    }
    schema
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer does not match the schema: {0}")]
    Schema(String),
}

/// Parses and checks the model's `content` against [`schema`] for `fields`.
pub fn parse_answer(content: &str, fields: &[AnalysisField]) -> Result<Verdict, AnswerError> {
    let value: Value =
        serde_json::from_str(content).map_err(|err| AnswerError::NotJson(err.to_string()))?;
    let bad = |what: String| AnswerError::Schema(what);
    let Value::Object(mut root) = value else {
        return Err(bad("the root is not an object".into()));
    };
    // The built-in properties, and `custom` (last) when the organization has fields.
    let expected: &[&str] = if fields.is_empty() {
        &RESERVED[..RESERVED.len() - 1]
    } else {
        RESERVED
    };
    if let Some(extra) = root.keys().find(|k| !expected.contains(&k.as_str())) {
        return Err(bad(format!("unexpected property `{extra}`")));
    }
    let mut take = |name: &str| {
        root.remove(name)
            .ok_or_else(|| bad(format!("missing property `{name}`")))
    };
    let summary = text(take("summary")?, "summary", MAX_SUMMARY_CHARS)?;
    let subject = text(take("subject")?, "subject", MAX_SUBJECT_CHARS)?;
    let sentiment = one_of::<Sentiment>(take("sentiment")?, "sentiment")?;
    let score = match take("satisfaction_score")? {
        Value::Number(n) => n
            .as_i64()
            .filter(|s| (1..=10).contains(s))
            .ok_or_else(|| bad(format!("`satisfaction_score` {n} is not an integer 1-10")))?,
        other => {
            return Err(bad(format!(
                "`satisfaction_score` is {}, not an integer",
                kind(&other)
            )));
        }
    };
    let outcome = one_of::<Outcome>(take("outcome")?, "outcome")?;
    let custom = if fields.is_empty() {
        Map::new()
    } else {
        custom_values(take("custom")?, fields)?
    };
    Ok(Verdict {
        summary,
        subject: Some(subject).filter(|s| !s.is_empty()),
        sentiment: Some(sentiment),
        satisfaction_score: Some(score as i16),
        outcome,
        custom,
        skipped: None,
    })
}

fn custom_values(
    value: Value,
    fields: &[AnalysisField],
) -> Result<Map<String, Value>, AnswerError> {
    let bad = |what: String| AnswerError::Schema(what);
    let Value::Object(mut given) = value else {
        return Err(bad("`custom` is not an object".into()));
    };
    if let Some(extra) = given.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
        return Err(bad(format!("unexpected property `custom.{extra}`")));
    }
    let mut out = Map::new();
    for field in fields {
        let path = format!("custom.{}", field.name);
        let value = given
            .remove(&field.name)
            .ok_or_else(|| bad(format!("missing property `{path}`")))?;
        let checked = match (field.field_type, value) {
            (_, Value::Null) => Value::Null,
            (FieldType::Text, value) => Value::String(text(value, &path, MAX_TEXT_CHARS)?),
            (FieldType::Number, Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {
                Value::Number(n)
            }
            (FieldType::Boolean, Value::Bool(b)) => Value::Bool(b),
            (FieldType::OneOf, Value::String(s)) if field.options.contains(&s) => Value::String(s),
            (FieldType::OneOf, Value::String(s)) => {
                return Err(bad(format!(
                    "`{path}` `{}` is not one of its options",
                    s.chars().take(40).collect::<String>()
                )));
            }
            (t, other) => {
                return Err(bad(format!(
                    "`{path}` is {}, not {}",
                    kind(&other),
                    t.as_str()
                )));
            }
        };
        out.insert(field.name.clone(), checked);
    }
    Ok(out)
}

fn text(value: Value, name: &str, max: usize) -> Result<String, AnswerError> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            if s.chars().count() > max {
                return Err(AnswerError::Schema(format!(
                    "`{name}` is longer than {max} characters"
                )));
            }
            // Control characters other than line breaks and tabs are dropped: stored text is
            // shown in dashboards and logs.
            Ok(s.chars()
                .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                .collect())
        }
        other => Err(AnswerError::Schema(format!(
            "`{name}` is {}, not a string",
            kind(&other)
        ))),
    }
}

fn one_of<T: std::str::FromStr>(value: Value, name: &str) -> Result<T, AnswerError> {
    match value {
        Value::String(s) => s.parse().map_err(|_| {
            AnswerError::Schema(format!(
                "`{name}` `{}` is not one of its values",
                s.chars().take(40).collect::<String>()
            ))
        }),
        other => Err(AnswerError::Schema(format!(
            "`{name}` is {}, not a string",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<AnalysisField> {
        vec![
            AnalysisField {
                name: "churn_risk".into(),
                field_type: FieldType::OneOf,
                description: "How likely the customer leaves".into(),
                options: vec!["low".into(), "high".into()],
            },
            AnalysisField {
                name: "order_value".into(),
                field_type: FieldType::Number,
                description: String::new(),
                options: vec![],
            },
            AnalysisField {
                name: "callback".into(),
                field_type: FieldType::Boolean,
                description: String::new(),
                options: vec![],
            },
            AnalysisField {
                name: "product".into(),
                field_type: FieldType::Text,
                description: String::new(),
                options: vec![],
            },
        ]
    }

    fn answer() -> Value {
        json!({
            "summary": "The caller booked a cleaning for Tuesday.",
            "subject": "Booking a cleaning",
            "sentiment": "positive",
            "satisfaction_score": 9,
            "outcome": "appointment_scheduled",
            "custom": {"churn_risk": "low", "order_value": 120.5, "callback": false, "product": null}
        })
    }

    /// Every object of a strict schema closes its properties and requires them all.
    fn assert_strict(schema: &Value, path: &str) {
        if schema.get("type") == Some(&json!("object")) {
            assert_eq!(
                schema["additionalProperties"],
                json!(false),
                "{path} not closed"
            );
            let mut required: Vec<&str> = schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let mut properties: Vec<&str> = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            required.sort();
            properties.sort();
            assert_eq!(required, properties, "{path}");
            for (name, property) in schema["properties"].as_object().unwrap() {
                assert_strict(property, &format!("{path}.{name}"));
            }
        }
    }

    #[test]
    fn the_schema_is_strict_with_and_without_custom_fields() {
        assert_strict(&schema(&[]), "root");
        assert_strict(&schema(&fields()), "root");
        let format = response_format(&fields());
        assert_eq!(format["json_schema"]["strict"], json!(true));
        assert_eq!(format["json_schema"]["name"], json!(SCHEMA_NAME));
        let custom = &format["json_schema"]["schema"]["properties"]["custom"]["properties"];
        assert_eq!(
            custom["churn_risk"]["enum"],
            json!(["low", "high", null]),
            "one_of values, or null"
        );
        assert_eq!(custom["callback"]["type"], json!(["boolean", "null"]));
        assert!(schema(&[])["properties"].get("custom").is_none());
    }

    #[test]
    fn a_conforming_answer_is_read_whole() {
        let verdict = parse_answer(&answer().to_string(), &fields()).unwrap();
        assert_eq!(verdict.sentiment, Some(Sentiment::Positive));
        assert_eq!(verdict.satisfaction_score, Some(9));
        assert_eq!(verdict.outcome, Outcome::AppointmentScheduled);
        assert_eq!(verdict.subject.as_deref(), Some("Booking a cleaning"));
        assert_eq!(verdict.custom["order_value"], json!(120.5));
        assert_eq!(verdict.custom["product"], Value::Null);
        assert_eq!(verdict.skipped, None);
    }

    #[test]
    fn answers_outside_the_schema_are_refused() {
        let mutate = |f: &dyn Fn(&mut Value)| {
            let mut a = answer();
            f(&mut a);
            parse_answer(&a.to_string(), &fields())
        };
        let refused: Vec<(&str, Result<Verdict, AnswerError>)> = vec![
            ("score 0", mutate(&|a| a["satisfaction_score"] = json!(0))),
            ("score 11", mutate(&|a| a["satisfaction_score"] = json!(11))),
            (
                "score 7.5",
                mutate(&|a| a["satisfaction_score"] = json!(7.5)),
            ),
            ("sentiment", mutate(&|a| a["sentiment"] = json!("angry"))),
            ("outcome", mutate(&|a| a["outcome"] = json!("sold"))),
            ("extra", mutate(&|a| a["extra"] = json!(1))),
            (
                "missing",
                mutate(&|a| {
                    a.as_object_mut().unwrap().remove("subject");
                }),
            ),
            (
                "option",
                mutate(&|a| a["custom"]["churn_risk"] = json!("medium")),
            ),
            (
                "bool type",
                mutate(&|a| a["custom"]["callback"] = json!("no")),
            ),
            ("custom extra", mutate(&|a| a["custom"]["x"] = json!(1))),
            ("summary type", mutate(&|a| a["summary"] = json!(["a"]))),
            (
                "long summary",
                mutate(&|a| a["summary"] = json!("w".repeat(MAX_SUMMARY_CHARS + 1))),
            ),
        ];
        for (case, result) in refused {
            assert!(
                matches!(result, Err(AnswerError::Schema(_))),
                "{case}: {result:?}"
            );
        }
        assert!(matches!(
            parse_answer("{\"summary\": ", &fields()),
            Err(AnswerError::NotJson(_))
        ));
        assert!(matches!(
            parse_answer("[1]", &[]),
            Err(AnswerError::Schema(_))
        ));
        // Without custom fields, `custom` is not expected.
        assert!(parse_answer(&answer().to_string(), &[]).is_err());
    }

    #[test]
    fn control_characters_are_dropped_from_stored_text() {
        let mut a = answer();
        a["summary"] = json!("Line one\u{1b}[31m\nline two\u{0}");
        let verdict = parse_answer(&a.to_string(), &fields()).unwrap();
        assert_eq!(verdict.summary, "Line one[31m\nline two");
    }

    #[test]
    fn no_model_means_unresolved_and_no_score() {
        let verdict = Verdict::without_model("no caller speech", &fields());
        assert_eq!(verdict.outcome, Outcome::Unresolved);
        assert_eq!(verdict.satisfaction_score, None);
        assert_eq!(verdict.sentiment, None);
        assert_eq!(verdict.custom.len(), 4);
        assert_eq!(verdict.skipped.as_deref(), Some("no caller speech"));
    }
}
