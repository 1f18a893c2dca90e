//! The default answer: a value that fits the request's schema, derived deterministically from
//! the conversation, and the token counts the peer reports.
//!
//! * `const` gives its value; `enum` a value picked by a hash of the last user message and the
//!   field's path (different transcripts can give different values; null only when it is the
//!   sole choice); a nullable type or an `anyOf` with a null branch the non-null one.
//! * Strings: a field whose name contains `summary` gets a sentence quoting the first words of
//!   the first `Customer: ` line of the transcript when it has one, else the first words of
//!   the last user message; others a short phrase naming the field (`Simulated call reason.`).
//! * Integers: within `minimum`..`maximum` when both are given (picked by the hash), the one
//!   bound when only one is; else within a range written in the description (`1-5`,
//!   `1 to 10`); else 1. Numbers likewise (1.0 by default). Booleans from the hash.
//! * Arrays get one item; objects every property, recursively.
//!
//! Without a schema the answer is the text `Simulated reply to: "<first words>"`.
//! Tokens: `prompt_tokens` = ⌈characters of all message contents / 4⌉, `completion_tokens` =
//! ⌈characters of the content (or refusal) / 4⌉.

use serde_json::{Map, Value};

use super::log::{ChatMessage, Usage};
use super::schema::declared_types;
use super::validate::{ChatRequest, Format};

/// Words of the transcript quoted by a summary.
const QUOTED_WORDS: usize = 8;

/// The default answer's `content` for `request`.
pub(super) fn content(request: &ChatRequest) -> String {
    let transcript = last_user_text(&request.messages);
    match &request.format {
        Format::Text => format!("Simulated reply to: \"{}\"", first_words(transcript)),
        Format::JsonSchema { schema, .. } => {
            let generator = Generator {
                transcript,
                seed: fnv1a(FNV_OFFSET, transcript.as_bytes()),
            };
            generator.value(schema, "answer", "$").to_string()
        }
    }
}

/// Token counts for an answer of `completion` to `messages`.
pub(super) fn usage(messages: &[ChatMessage], completion: &str) -> Usage {
    let prompt_chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    let prompt_tokens = tokens(prompt_chars);
    let completion_tokens = tokens(completion.chars().count());
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
    }
}

/// ⌈chars / 4⌉.
pub(super) fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// The first `chars` characters of `text`.
pub(super) fn cut(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// The last user message's text (the transcript), else the last message's, else "".
fn last_user_text(messages: &[ChatMessage]) -> &str {
    messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .or(messages.last())
        .map_or("", |m| m.content.as_str())
}

fn first_words(text: &str) -> String {
    let mut words = text.split_whitespace();
    let quoted: Vec<&str> = words.by_ref().take(QUOTED_WORDS).collect();
    let more = if words.next().is_some() { "…" } else { "" };
    format!("{}{more}", quoted.join(" "))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// splitmix64's finalizer: spreads the FNV hash over all bits before a modulo.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

struct Generator<'a> {
    transcript: &'a str,
    seed: u64,
}

impl Generator<'_> {
    fn hash(&self, path: &str) -> u64 {
        mix(fnv1a(self.seed, path.as_bytes()))
    }

    fn value(&self, schema: &Value, name: &str, path: &str) -> Value {
        let Some(schema) = schema.as_object() else {
            return Value::Null;
        };
        if let Some(constant) = schema.get("const") {
            return constant.clone();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
            let choices: Vec<&Value> = if non_null.is_empty() {
                values.iter().collect()
            } else {
                non_null
            };
            return match choices.len() {
                0 => Value::Null,
                n => choices[(self.hash(path) % n as u64) as usize].clone(),
            };
        }
        let kind = match declared_types(schema) {
            Some(types) => types
                .iter()
                .copied()
                .find(|kind| *kind != "null")
                .unwrap_or("null"),
            None => {
                let branches = schema.get("anyOf").and_then(Value::as_array);
                let branch = branches.and_then(|branches| {
                    branches
                        .iter()
                        .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                        .or(branches.first())
                });
                return branch.map_or(Value::Null, |b| self.value(b, name, path));
            }
        };
        match kind {
            "string" => Value::String(self.string(name)),
            "integer" => Value::from(self.integer(schema, path)),
            "number" => Value::from(self.number(schema, path)),
            "boolean" => Value::Bool(self.hash(path) & 1 == 1),
            "object" => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let fields: Map<String, Value> = properties
                    .into_iter()
                    .flatten()
                    .map(|(key, property)| {
                        let value = self.value(property, key, &format!("{path}.{key}"));
                        (key.clone(), value)
                    })
                    .collect();
                Value::Object(fields)
            }
            "array" => {
                let item = schema.get("items").unwrap_or(&Value::Null);
                Value::Array(vec![self.value(
                    item,
                    &format!("{name} item"),
                    &format!("{path}[0]"),
                )])
            }
            _ => Value::Null,
        }
    }

    fn string(&self, name: &str) -> String {
        if name.to_ascii_lowercase().contains("summary") {
            // What the customer said first, when the transcript labels its speakers.
            let said = self
                .transcript
                .lines()
                .find_map(|line| line.split_once("Customer: ").map(|(_, words)| words))
                .unwrap_or(self.transcript);
            return match first_words(said) {
                words if words.is_empty() => "The conversation was empty.".into(),
                words => format!("The caller said: \"{words}\""),
            };
        }
        format!("Simulated {}.", name.replace(['_', '-'], " "))
    }

    fn integer(&self, schema: &Map<String, Value>, path: &str) -> i64 {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        let (lo, hi) = match (bound("minimum"), bound("maximum")) {
            (Some(lo), Some(hi)) => (lo.ceil(), hi.floor()),
            (Some(lo), None) => return lo.ceil() as i64,
            (None, Some(hi)) => return hi.floor().min(1.0) as i64,
            (None, None) => match described_range(schema) {
                Some((lo, hi)) => (lo.ceil(), hi.floor()),
                None => return 1,
            },
        };
        let (lo, hi) = (lo as i64, hi as i64);
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo) + 1;
        lo.saturating_add_unsigned(self.hash(path) % span)
    }

    fn number(&self, schema: &Map<String, Value>, path: &str) -> f64 {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        let (lo, hi) = match (bound("minimum"), bound("maximum")) {
            (Some(lo), Some(hi)) => (lo, hi),
            (Some(lo), None) => return lo,
            (None, Some(hi)) => return hi.min(1.0),
            (None, None) => match described_range(schema) {
                Some(range) => range,
                None => return 1.0,
            },
        };
        let step = (self.hash(path) % 101) as f64 / 100.0;
        (lo + (hi - lo) * step).clamp(lo, hi)
    }
}

/// A range written in the description: `1-5`, `1 – 5`, `1 to 10`, `0..100`.
fn described_range(schema: &Map<String, Value>) -> Option<(f64, f64)> {
    let text = schema.get("description")?.as_str()?;
    let bytes = text.as_bytes();
    // Digits, then optionally a point and more digits.
    let number_at = |start: usize| -> Option<(f64, usize)> {
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut end = start + digits(start);
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end += 1 + digits(end + 1);
        }
        Some((text[start..end].parse().ok()?, end))
    };
    let skip_spaces = |at: usize| at + text[at..].bytes().take_while(|b| *b == b' ').count();
    for start in 0..bytes.len() {
        let digit_starts = bytes[start].is_ascii_digit()
            && (start == 0 || !(bytes[start - 1].is_ascii_digit() || bytes[start - 1] == b'.'));
        if !digit_starts {
            continue;
        }
        let Some((lo, end)) = number_at(start) else {
            continue;
        };
        let rest = &text[skip_spaces(end)..];
        let Some(after) = ["-", "–", "—", "..", "to "]
            .iter()
            .find_map(|sep| rest.strip_prefix(sep))
        else {
            continue;
        };
        let at = text.len() - after.len();
        let at = skip_spaces(at);
        if at < bytes.len()
            && bytes[at].is_ascii_digit()
            && let Some((hi, _)) = number_at(at)
            && hi >= lo
        {
            return Some((lo, hi));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::described_range;

    fn range(description: &str) -> Option<(f64, f64)> {
        let schema = json!({"type": "integer", "description": description});
        described_range(schema.as_object().expect("object"))
    }

    #[test]
    fn reads_a_range_in_the_description() {
        assert_eq!(range("1-5"), Some((1.0, 5.0)));
        assert_eq!(range("Satisfaction from 1 to 10"), Some((1.0, 10.0)));
        assert_eq!(range("score 0 – 100, higher is better"), Some((0.0, 100.0)));
        assert_eq!(range("between 0.5..2.5"), Some((0.5, 2.5)));
        assert_eq!(range("version 2.0 of the 3 scores"), None);
        assert_eq!(range("5-1"), None, "a reversed range is not one");
        assert_eq!(range("no digits"), None);
        assert_eq!(described_range(&serde_json::Map::new()), None::<(f64, f64)>);
    }
}
