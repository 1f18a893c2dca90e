//! Request validation over HTTP: each invalid request gets a 400 naming its `param`, and body
//! problems (not JSON, not `application/json`, too large) are named.

use serde_json::{Value, json};

use super::support::{MODEL, TRANSCRIPT, http, post, score_request, send, start};
use crate::openai_rest::{RestPeerConfig, Scripted, Usage};

/// Sets (or adds) the member of `value` at JSON pointer `pointer`.
fn set(value: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    match value.pointer_mut(parent).expect("the parent exists") {
        Value::Object(members) => {
            members.insert(key.to_owned(), new);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("an index")] = new,
        other => panic!("{parent} is {other}"),
    }
}

/// Each invalid request, the `param` its 400 names and the `code`.
fn invalid_requests() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    const SCHEMA: &str = "response_format.json_schema.schema";
    let with = |pointer: &str, value: Value| {
        let mut request = score_request(TRANSCRIPT);
        set(&mut request, pointer, value);
        request
    };
    let without = |key: &str| {
        let mut request = score_request(TRANSCRIPT);
        request.as_object_mut().expect("object").remove(key);
        request
    };
    let schema_with = |pointer: &str, value: Value| {
        with(
            &format!("/response_format/json_schema/schema{pointer}"),
            value,
        )
    };
    // A fourth property, `caller`, listed in `required`.
    let with_caller = |caller: Value| {
        let mut request = score_request(TRANSCRIPT);
        let schema = "/response_format/json_schema/schema";
        set(&mut request, &format!("{schema}/properties/caller"), caller);
        set(
            &mut request,
            &format!("{schema}/required"),
            json!(["summary", "sentiment", "satisfaction", "caller"]),
        );
        request
    };
    let mut unknown_parameter = score_request(TRANSCRIPT);
    unknown_parameter["temprature"] = json!(0.2);
    let mut stream = score_request(TRANSCRIPT);
    stream["stream"] = json!(true);
    let mut zero_tokens = score_request(TRANSCRIPT);
    zero_tokens["max_completion_tokens"] = json!(0);
    let object = |required: Value, properties: Value| {
        json!({"type": "object", "additionalProperties": false, "required": required,
               "properties": properties})
    };
    vec![
        (
            "no model",
            without("model"),
            "model",
            "missing_required_parameter",
        ),
        (
            "empty model",
            with("/model", json!("")),
            "model",
            "invalid_value",
        ),
        (
            "model a number",
            with("/model", json!(4)),
            "model",
            "invalid_type",
        ),
        (
            "no messages",
            without("messages"),
            "messages",
            "missing_required_parameter",
        ),
        (
            "empty messages",
            with("/messages", json!([])),
            "messages",
            "empty_array",
        ),
        (
            "messages a string",
            with("/messages", json!("hi")),
            "messages",
            "invalid_type",
        ),
        (
            "message a string",
            with("/messages/0", json!("hi")),
            "messages[0]",
            "invalid_type",
        ),
        (
            "bad role",
            with("/messages/1/role", json!("robot")),
            "messages[1].role",
            "invalid_value",
        ),
        (
            "tool role",
            with("/messages/1/role", json!("tool")),
            "messages[1].role",
            "invalid_value",
        ),
        (
            "no content",
            with("/messages/0/content", Value::Null),
            "messages[0].content",
            "missing_required_parameter",
        ),
        (
            "image part",
            with(
                "/messages/1/content",
                json!([{"type": "image_url", "image_url": {"url": "x"}}]),
            ),
            "messages[1].content[0].type",
            "invalid_value",
        ),
        (
            "unknown parameter",
            unknown_parameter,
            "temprature",
            "unknown_parameter",
        ),
        ("stream", stream, "stream", "invalid_value"),
        (
            "zero max tokens",
            zero_tokens,
            "max_completion_tokens",
            "integer_below_min_value",
        ),
        (
            "json_object",
            with("/response_format", json!({"type": "json_object"})),
            "response_format.type",
            "invalid_value",
        ),
        (
            "no json_schema",
            with("/response_format", json!({"type": "json_schema"})),
            "response_format.json_schema",
            "missing_required_parameter",
        ),
        (
            "name with a space",
            with("/response_format/json_schema/name", json!("call score")),
            "response_format.json_schema.name",
            "invalid_value",
        ),
        (
            "name too long",
            with("/response_format/json_schema/name", json!("n".repeat(65))),
            "response_format.json_schema.name",
            "invalid_value",
        ),
        (
            "not strict",
            with("/response_format/json_schema/strict", json!(false)),
            "response_format.json_schema.strict",
            "invalid_value",
        ),
        (
            "no schema",
            with("/response_format/json_schema/schema", Value::Null),
            SCHEMA,
            "missing_required_parameter",
        ),
        (
            "root an array",
            with(
                "/response_format/json_schema/schema",
                json!({"type": "array", "items": {"type": "string"}}),
            ),
            SCHEMA,
            "invalid_json_schema",
        ),
        (
            "root additionalProperties true",
            schema_with("/additionalProperties", json!(true)),
            "response_format.json_schema.schema.additionalProperties",
            "invalid_json_schema",
        ),
        (
            "property not required",
            schema_with("/required", json!(["summary", "sentiment"])),
            "response_format.json_schema.schema.required",
            "invalid_json_schema",
        ),
        (
            "required not a property",
            schema_with(
                "/required",
                json!(["summary", "sentiment", "satisfaction", "extra"]),
            ),
            "response_format.json_schema.schema.required",
            "invalid_json_schema",
        ),
        (
            "nested object open",
            with_caller(json!({"type": "object", "required": [], "properties": {}})),
            "response_format.json_schema.schema.properties.caller.additionalProperties",
            "invalid_json_schema",
        ),
        (
            "nested object optional field",
            with_caller(object(json!([]), json!({"name": {"type": "string"}}))),
            "response_format.json_schema.schema.properties.caller.required",
            "invalid_json_schema",
        ),
        (
            "enum of the wrong type",
            schema_with("/properties/sentiment/enum", json!(["good", 3])),
            "response_format.json_schema.schema.properties.sentiment.enum",
            "invalid_json_schema",
        ),
        (
            "format keyword",
            schema_with("/properties/summary/format", json!("date")),
            "response_format.json_schema.schema.properties.summary",
            "invalid_json_schema",
        ),
        (
            "$ref",
            schema_with("/properties/summary", json!({"$ref": "#/$defs/summary"})),
            "response_format.json_schema.schema.properties.summary",
            "invalid_json_schema",
        ),
        (
            "array without items",
            schema_with("/properties/summary", json!({"type": "array"})),
            "response_format.json_schema.schema.properties.summary",
            "invalid_json_schema",
        ),
        (
            "minimum on a string",
            schema_with("/properties/summary/minimum", json!(1)),
            "response_format.json_schema.schema.properties.summary.minimum",
            "invalid_json_schema",
        ),
        (
            "unknown type",
            schema_with("/properties/summary/type", json!("text")),
            "response_format.json_schema.schema.properties.summary.type",
            "invalid_json_schema",
        ),
        (
            "open object in anyOf",
            schema_with(
                "/properties/summary",
                json!({"anyOf": [{"type": "null"}, {"type": "object", "properties": {}}]}),
            ),
            "response_format.json_schema.schema.properties.summary.anyOf[1].additionalProperties",
            "invalid_json_schema",
        ),
        (
            "open object in items",
            schema_with(
                "/properties/summary",
                json!({"type": "array", "items": {"type": "object", "properties": {}}}),
            ),
            "response_format.json_schema.schema.properties.summary.items.additionalProperties",
            "invalid_json_schema",
        ),
    ]
}

#[tokio::test]
async fn each_invalid_request_is_a_400_naming_the_param() {
    let peer = start(RestPeerConfig::default());
    let control = peer.control();
    control.push(Scripted::Refusal("kept for a valid request".into()));
    let cases = invalid_requests();
    for (case, request, param, code) in &cases {
        let reply = post(&peer, request).await;
        reply.assert_error(400);
        assert_eq!(reply.error_type(), Some("invalid_request_error"), "{case}");
        assert_eq!(reply.param(), Some(*param), "{case}: {}", reply.body);
        assert_eq!(reply.code(), Some(*code), "{case}: {}", reply.body);
    }
    assert_eq!(
        control.pending().len(),
        1,
        "invalid requests take no scripted outcome"
    );
    let logs = peer.requests();
    assert_eq!(logs.len(), cases.len());
    assert!(logs.iter().all(|log| log.status == Some(400)));
    assert_eq!(
        logs[7].error.as_ref().and_then(|e| e.param.as_deref()),
        Some("messages[1].role")
    );
    assert_eq!(
        logs[7].model.as_deref(),
        Some(MODEL),
        "invalid requests are logged too"
    );
    assert_eq!(peer.usage_total(), Usage::default());
}

#[tokio::test]
async fn body_problems_are_named() {
    let peer = start(RestPeerConfig {
        max_body_bytes: 2000,
        ..RestPeerConfig::default()
    });
    let not_json = send(
        http()
            .post(peer.url())
            .header("content-type", "application/json")
            .body("{\"model\": "),
    )
    .await;
    not_json.assert_error(400);
    let message = not_json.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("could not parse the JSON body"),
        "{message}"
    );

    let form = send(
        http()
            .post(peer.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("model=gpt-4o"),
    )
    .await;
    form.assert_error(400);
    let message = form.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Content-Type"), "{message}");

    let array = post(&peer, &json!([1, 2])).await;
    array.assert_error(400);
    let message = array.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("must be a JSON object"), "{message}");

    let large = post(&peer, &score_request(&"word ".repeat(500))).await;
    large.assert_error(413);
    assert_eq!(large.code(), Some("request_too_large"));
    assert_eq!(post(&peer, &score_request(TRANSCRIPT)).await.status, 200);
}
