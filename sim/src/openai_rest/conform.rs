//! Whether a value fits a strict schema: what a client must check of an answer before using it
//! (the peer's own answers always fit; scripted ones need not).

use serde_json::Value;

use super::schema::{declared_types, is_of_type};

/// `Ok` when `value` fits `schema` (a schema that passed the strict checks); else the path
/// (`$.sentiment`, `$.topics[0]`) and what is wrong there.
pub fn conforms(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "$")
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(types) = declared_types(schema)
        && !types.iter().any(|kind| is_of_type(value, kind))
    {
        return Err(format!("{at}: {value} is not of type {types:?}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{at}: {value} is not {constant}"));
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
        && !branches
            .iter()
            .any(|branch| check(branch, value, at).is_ok())
    {
        return Err(format!("{at}: {value} fits no branch of anyOf"));
    }
    if let Some(number) = value.as_f64() {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        if bound("minimum").is_some_and(|min| number < min) {
            return Err(format!("{at}: {number} is below the minimum"));
        }
        if bound("maximum").is_some_and(|max| number > max) {
            return Err(format!("{at}: {number} is above the maximum"));
        }
    }
    if let Value::Object(fields) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        let required = schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                return Err(format!("{at}: '{name}' is missing"));
            }
        }
        for (name, field) in fields {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => check(property, field, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: '{name}' is not a property of the schema"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::conforms;

    #[test]
    fn finds_what_does_not_fit() {
        let schema = json!({
            "type": "object", "additionalProperties": false, "required": ["mood", "tags"],
            "properties": {
                "mood": {"type": ["string", "null"], "enum": ["ok", "bad", null]},
                "tags": {"type": "array", "items": {"type": "integer", "maximum": 3}}
            }
        });
        assert_eq!(
            conforms(&schema, &json!({"mood": null, "tags": [1, 3]})),
            Ok(())
        );
        let error = |value| conforms(&schema, &value).expect_err("does not fit");
        assert!(error(json!({"mood": "ok"})).contains("'tags' is missing"));
        assert!(error(json!({"mood": "meh", "tags": []})).starts_with("$.mood"));
        assert!(error(json!({"mood": "ok", "tags": [4]})).starts_with("$.tags[0]"));
        assert!(error(json!({"mood": "ok", "tags": [], "x": 1})).contains("'x'"));
        assert!(error(json!("text")).contains("not of type"));
    }
}
