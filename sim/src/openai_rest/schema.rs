//! The strict subset of JSON Schema that Structured Outputs accepts (`strict: true`), checked
//! the way the service checks a request's `response_format.json_schema.schema`.
//!
//! Every schema is an object using only [`KEYWORDS`]; the root is `"type": "object"`; every
//! object schema has `additionalProperties: false` and lists every property in `required`
//! (an optional field is a nullable one, `"type": ["string", "null"]`); an array schema has
//! `items`; `enum` and `const` values have the declared type; `minimum`/`maximum` only on
//! numbers. `$ref`/`$defs` are refused as unsupported by this peer. At most [`MAX_DEPTH`]
//! levels of nesting, [`MAX_PROPERTIES`] properties and [`MAX_ENUM_VALUES`] values per enum.

use serde_json::{Map, Value};

use super::error::RequestError;

/// The keywords a strict schema may use.
pub const KEYWORDS: [&str; 12] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "items",
    "description",
    "title",
    "anyOf",
    "const",
    "minimum",
    "maximum",
];

/// The values of `type`.
pub const TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "object", "array", "null",
];

/// Deepest nesting of objects and arrays (the root is level 1).
pub const MAX_DEPTH: usize = 10;
/// Most properties over the whole schema.
pub const MAX_PROPERTIES: usize = 5000;
/// Most values in one `enum`.
pub const MAX_ENUM_VALUES: usize = 1000;

const CODE: &str = "invalid_json_schema";

/// Checks `schema` against the strict rules; `param` is its path in the request
/// (`response_format.json_schema.schema`), and an error (a 400 `invalid_json_schema`) names the
/// path of the offending part in its `param`. A client can run it on its own schema.
pub fn check_strict(schema: &Value, param: &str) -> Result<(), RequestError> {
    let Some(root) = schema.as_object() else {
        return Err(RequestError::invalid(
            param,
            "invalid_type",
            format!("Invalid type for '{param}': expected an object."),
        ));
    };
    if root.get("type").and_then(Value::as_str) != Some("object") {
        return Err(fail(
            param,
            "the root schema must be an object: \"type\": \"object\" (not anyOf, not a list of \
             types)",
        ));
    }
    Checker { properties: 0 }.node(root, param, 1)
}

/// Whether `value` is of JSON Schema type `kind` (`1.0` is an integer).
pub(super) fn is_of_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// The types a schema declares (`type` as a string or a list), `None` without `type`.
pub(super) fn declared_types(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(kind) => Some(vec![kind.as_str()]),
        Value::Array(kinds) => Some(kinds.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn fail(path: &str, why: impl std::fmt::Display) -> RequestError {
    RequestError::invalid(
        path,
        CODE,
        format!("Invalid schema for response_format: at '{path}', {why}."),
    )
}

struct Checker {
    properties: usize,
}

impl Checker {
    fn node(
        &mut self,
        schema: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<(), RequestError> {
        if depth > MAX_DEPTH {
            return Err(fail(
                path,
                format!("the schema nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        for key in schema.keys() {
            if matches!(key.as_str(), "$ref" | "$defs" | "definitions") {
                return Err(fail(path, format!("'{key}' is not supported by this peer")));
            }
            if !KEYWORDS.contains(&key.as_str()) {
                return Err(fail(
                    path,
                    format!("'{key}' is not permitted in strict mode"),
                ));
            }
        }
        for key in ["description", "title"] {
            if schema.get(key).is_some_and(|text| !text.is_string()) {
                return Err(fail(path, format!("'{key}' must be a string")));
            }
        }
        let types = self.types(schema, path)?;
        let has = |kind: &str| types.as_ref().is_some_and(|types| types.contains(&kind));
        if types.is_none()
            && !["anyOf", "enum", "const"]
                .iter()
                .any(|k| schema.contains_key(*k))
        {
            return Err(fail(
                path,
                "a schema needs 'type' (or 'anyOf', 'enum', 'const')",
            ));
        }
        if has("object") {
            self.object(schema, path, depth)?;
        } else if let Some(key) = ["properties", "required", "additionalProperties"]
            .into_iter()
            .find(|key| schema.contains_key(*key))
        {
            return Err(fail(
                path,
                format!("'{key}' is only allowed on object schemas"),
            ));
        }
        match schema.get("items") {
            Some(items) if has("array") => {
                self.child(items, &format!("{path}.items"), depth + 1)?
            }
            Some(_) => return Err(fail(path, "'items' is only allowed on array schemas")),
            None if has("array") => return Err(fail(path, "an array schema needs 'items'")),
            None => {}
        }
        self.bounds(schema, path, has("number") || has("integer"))?;
        if let Some(values) = schema.get("enum") {
            self.values(values, types.as_deref(), &format!("{path}.enum"))?;
        }
        if let Some(value) = schema.get("const")
            && let Some(types) = &types
            && !types.iter().any(|kind| is_of_type(value, kind))
        {
            return Err(fail(
                &format!("{path}.const"),
                format!("{value} is not of type {types:?}"),
            ));
        }
        if let Some(branches) = schema.get("anyOf") {
            let branches = branches
                .as_array()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    fail(
                        &format!("{path}.anyOf"),
                        "'anyOf' must be a non-empty array",
                    )
                })?;
            for (i, branch) in branches.iter().enumerate() {
                self.child(branch, &format!("{path}.anyOf[{i}]"), depth)?;
            }
        }
        Ok(())
    }

    fn child(&mut self, schema: &Value, path: &str, depth: usize) -> Result<(), RequestError> {
        let schema = schema
            .as_object()
            .ok_or_else(|| fail(path, "a schema must be an object"))?;
        self.node(schema, path, depth)
    }

    fn types<'s>(
        &self,
        schema: &'s Map<String, Value>,
        path: &str,
    ) -> Result<Option<Vec<&'s str>>, RequestError> {
        let Some(declared) = schema.get("type") else {
            return Ok(None);
        };
        let path = format!("{path}.type");
        let kinds: Vec<&Value> = match declared {
            Value::String(_) => vec![declared],
            Value::Array(kinds) if !kinds.is_empty() => kinds.iter().collect(),
            _ => {
                return Err(fail(
                    &path,
                    "'type' must be a type name or a non-empty list",
                ));
            }
        };
        let mut types = Vec::with_capacity(kinds.len());
        for kind in kinds {
            match kind.as_str().filter(|kind| TYPES.contains(kind)) {
                Some(kind) if !types.contains(&kind) => types.push(kind),
                Some(kind) => return Err(fail(&path, format!("'{kind}' is listed twice"))),
                None => return Err(fail(&path, format!("{kind} is not one of {TYPES:?}"))),
            }
        }
        Ok(Some(types))
    }

    fn object(
        &mut self,
        schema: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<(), RequestError> {
        let empty = Map::new();
        let properties = match schema.get("properties") {
            None => &empty,
            Some(Value::Object(properties)) => properties,
            Some(_) => return Err(fail(&format!("{path}.properties"), "must be an object")),
        };
        if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(fail(
                &format!("{path}.additionalProperties"),
                "'additionalProperties' is required to be supplied and to be false",
            ));
        }
        let required_path = format!("{path}.required");
        let required: Vec<&str> = match schema.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|name| {
                    name.as_str()
                        .ok_or_else(|| fail(&required_path, "'required' must list strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(fail(&required_path, "'required' must be an array")),
        };
        for (i, name) in required.iter().enumerate() {
            if required[..i].contains(name) {
                return Err(fail(&required_path, format!("'{name}' is listed twice")));
            }
            if !properties.contains_key(*name) {
                return Err(fail(
                    &required_path,
                    format!("'{name}' is listed in 'required' but is not in 'properties'"),
                ));
            }
        }
        if let Some(missing) = properties
            .keys()
            .find(|key| !required.contains(&key.as_str()))
        {
            return Err(fail(
                &required_path,
                format!(
                    "'required' is required to be supplied and to be an array including every \
                     key in properties. Missing '{missing}'"
                ),
            ));
        }
        self.properties += properties.len();
        if self.properties > MAX_PROPERTIES {
            return Err(fail(
                path,
                format!("the schema has more than {MAX_PROPERTIES} properties"),
            ));
        }
        for (name, property) in properties {
            self.child(property, &format!("{path}.properties.{name}"), depth + 1)?;
        }
        Ok(())
    }

    fn bounds(
        &self,
        schema: &Map<String, Value>,
        path: &str,
        numeric: bool,
    ) -> Result<(), RequestError> {
        let bound = |key: &str| -> Result<Option<f64>, RequestError> {
            let Some(value) = schema.get(key) else {
                return Ok(None);
            };
            let at = format!("{path}.{key}");
            if !numeric {
                return Err(fail(
                    &at,
                    format!("'{key}' is only allowed on number schemas"),
                ));
            }
            value
                .as_f64()
                .map(Some)
                .ok_or_else(|| fail(&at, format!("'{key}' must be a number")))
        };
        if let (Some(min), Some(max)) = (bound("minimum")?, bound("maximum")?)
            && min > max
        {
            return Err(fail(
                &format!("{path}.minimum"),
                format!("minimum {min} is above maximum {max}"),
            ));
        }
        Ok(())
    }

    fn values(
        &self,
        values: &Value,
        types: Option<&[&str]>,
        path: &str,
    ) -> Result<(), RequestError> {
        let values = values
            .as_array()
            .filter(|values| !values.is_empty())
            .ok_or_else(|| fail(path, "'enum' must be a non-empty array"))?;
        if values.len() > MAX_ENUM_VALUES {
            return Err(fail(
                path,
                format!("'enum' has more than {MAX_ENUM_VALUES} values"),
            ));
        }
        if let Some(types) = types
            && let Some(stray) = values
                .iter()
                .find(|value| !types.iter().any(|kind| is_of_type(value, kind)))
        {
            return Err(fail(
                path,
                format!("enum value {stray} is not of type {types:?}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_strict;

    fn param_of(schema: serde_json::Value) -> Option<String> {
        check_strict(&schema, "s")
            .err()
            .and_then(|error| error.param().map(str::to_owned))
    }

    #[test]
    fn nesting_is_limited() {
        let mut schema = json!({"type": "string"});
        for _ in 0..9 {
            schema = json!({"type": "object", "additionalProperties": false,
                            "required": ["x"], "properties": {"x": schema}});
        }
        assert_eq!(param_of(schema.clone()), None, "ten levels pass");
        let deeper = json!({"type": "object", "additionalProperties": false,
                            "required": ["x"], "properties": {"x": schema}});
        let param = param_of(deeper).expect("eleven levels fail");
        assert!(param.ends_with(".x.properties.x"), "{param}");
    }

    #[test]
    fn bounds_and_types_are_checked() {
        let object = |property: serde_json::Value| {
            json!({"type": "object", "additionalProperties": false, "required": ["n"],
                   "properties": {"n": property}})
        };
        let valid = object(json!({"type": ["integer", "null"], "minimum": 1, "maximum": 5}));
        assert_eq!(param_of(valid), None);
        let reversed = object(json!({"type": "number", "minimum": 5, "maximum": 1}));
        assert_eq!(
            param_of(reversed).as_deref(),
            Some("s.properties.n.minimum")
        );
        let twice = object(json!({"type": ["string", "string"]}));
        assert_eq!(param_of(twice).as_deref(), Some("s.properties.n.type"));
        let bad_const = object(json!({"type": "integer", "const": "one"}));
        assert_eq!(param_of(bad_const).as_deref(), Some("s.properties.n.const"));
        let untyped = object(json!({"description": "anything"}));
        assert_eq!(param_of(untyped).as_deref(), Some("s.properties.n"));
    }
}
