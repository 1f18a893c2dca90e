//! An organization's own analysis fields: their definitions as the API takes them, and the rules a
//! definition must follow before it may join the schema sent to the model.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most fields an organization may define (each adds to every analysis request).
pub const MAX_FIELDS: usize = 20;
/// The most values a `one_of` field may list.
pub const MAX_OPTIONS: usize = 20;
const MAX_DESCRIPTION: usize = 500;
const MAX_OPTION_CHARS: usize = 100;
const MAX_NAME_CHARS: usize = 40;

/// Names the model's answer already uses, in the schema's order (`custom`, which holds the
/// organization's fields, last): a field may not shadow them.
pub const RESERVED: &[&str] = &[
    "summary",
    "subject",
    "sentiment",
    "satisfaction_score",
    "outcome",
    "custom",
];

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    /// One of the field's `options`.
    OneOf,
}

impl FieldType {
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::OneOf => "one_of",
        }
    }

    pub fn parse(text: &str) -> Option<FieldType> {
        [
            FieldType::Text,
            FieldType::Number,
            FieldType::Boolean,
            FieldType::OneOf,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// A field definition: its name (the key in `analysis`), type, what the model is told it means, and
/// for `one_of` the allowed values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisField {
    /// `[a-z][a-z0-9_]*`, at most 40 characters.
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub description: String,
    /// The values of a `one_of` field (1 to 20, distinct); empty for the other types.
    #[serde(default)]
    pub options: Vec<String>,
}

/// A definition that breaks a rule; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("analysis field `{name}`: {problem}")]
pub struct FieldError {
    pub name: String,
    pub problem: String,
}

impl AnalysisField {
    /// Checks the definition (trimming its text) and returns it ready to store.
    pub fn validated(mut self) -> Result<AnalysisField, FieldError> {
        let fail = |name: &str, problem: String| FieldError {
            name: name.chars().take(MAX_NAME_CHARS + 10).collect(),
            problem,
        };
        let name = self.name.trim().to_owned();
        let well_formed = name.len() <= MAX_NAME_CHARS
            && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed {
            return Err(fail(
                &name,
                format!(
                    "the name must be a lowercase letter then lowercase letters, digits or `_`, at most {MAX_NAME_CHARS} characters"
                ),
            ));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(fail(
                &name,
                format!(
                    "the name is reserved (built-in analysis: {})",
                    RESERVED.join(", ")
                ),
            ));
        }
        self.description = self.description.trim().to_owned();
        if self.description.chars().count() > MAX_DESCRIPTION {
            return Err(fail(
                &name,
                format!("the description is longer than {MAX_DESCRIPTION} characters"),
            ));
        }
        if self
            .description
            .chars()
            .any(|c| c.is_control() && c != '\n')
        {
            return Err(fail(
                &name,
                "the description contains control characters".into(),
            ));
        }
        let options: Vec<String> = self.options.iter().map(|o| o.trim().to_owned()).collect();
        match self.field_type {
            FieldType::OneOf => {
                if options.is_empty() || options.len() > MAX_OPTIONS {
                    return Err(fail(
                        &name,
                        format!("a one_of field lists 1 to {MAX_OPTIONS} options"),
                    ));
                }
                for (i, option) in options.iter().enumerate() {
                    if option.is_empty()
                        || option.chars().count() > MAX_OPTION_CHARS
                        || option.chars().any(char::is_control)
                    {
                        return Err(fail(
                            &name,
                            format!(
                                "option {} must be 1 to {MAX_OPTION_CHARS} printable characters",
                                i + 1
                            ),
                        ));
                    }
                    if options[..i].contains(option) {
                        return Err(fail(&name, format!("option `{option}` is listed twice")));
                    }
                }
            }
            _ if !options.is_empty() => {
                return Err(fail(
                    &name,
                    format!(
                        "only a one_of field has options (this one is {})",
                        self.field_type.as_str()
                    ),
                ));
            }
            _ => {}
        }
        self.name = name;
        self.options = options;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, field_type: FieldType, options: &[&str]) -> AnalysisField {
        AnalysisField {
            name: name.into(),
            field_type,
            description: " What it means ".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn a_good_definition_is_trimmed_and_kept() {
        let f = field(" churn_risk ", FieldType::OneOf, &[" low", "high "])
            .validated()
            .unwrap();
        assert_eq!(f.name, "churn_risk");
        assert_eq!(f.description, "What it means");
        assert_eq!(f.options, ["low", "high"]);
    }

    #[test]
    fn bad_definitions_name_the_field_and_the_rule() {
        let cases = [
            (field("Churn", FieldType::Text, &[]), "lowercase"),
            (field("9lives", FieldType::Text, &[]), "lowercase"),
            (field("a-b", FieldType::Text, &[]), "lowercase"),
            (field(&"x".repeat(41), FieldType::Text, &[]), "at most 40"),
            (field("summary", FieldType::Text, &[]), "reserved"),
            (field("tier", FieldType::OneOf, &[]), "1 to 20 options"),
            (field("tier", FieldType::OneOf, &["a", "a"]), "twice"),
            (field("tier", FieldType::OneOf, &["a", ""]), "option 2"),
            (field("vip", FieldType::Boolean, &["yes"]), "only a one_of"),
        ];
        for (definition, expected) in cases {
            let err = definition.clone().validated().unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{definition:?}: {err} (expected `{expected}`)"
            );
            assert!(err.to_string().starts_with("analysis field `"), "{err}");
        }
        let long = AnalysisField {
            description: "d".repeat(501),
            ..field("notes", FieldType::Text, &[])
        };
        assert!(long.validated().unwrap_err().problem.contains("500"));
    }
}
