//! The tools of one live call, run for its actor ([`ToolRunner`]): the organization's webhook
//! tools (signed POSTs through the engine's [`ToolClient`], with its limits), and the built-ins
//! that need the service: `lookup_customer` (the engine's own customer record of the caller)
//! and `add_note` (a note on the call, through the persistence actor).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use switchboard_actors::call::{ToolReport, ToolRequest, ToolRunner};
use switchboard_actors::domain::{MessageDirection, MessageType, SenderType};
use switchboard_actors::persistence::{NewMessage, PersistItem, PersistenceHandle, Sender};
use uuid::Uuid;

use crate::store::Store;
use crate::tools::{ToolCallRecord, ToolClient, ToolContext, WebhookTool, masked};

/// See the module documentation.
#[derive(Clone)]
pub struct CallToolRunner {
    pub client: ToolClient,
    /// The webhook tools the call's profile lists.
    pub webhooks: Arc<Vec<WebhookTool>>,
    /// The organization's tool secret (opened); without one, webhook tools answer an error.
    pub secret: Option<Arc<Vec<u8>>>,
    pub context: Arc<ToolContext>,
    pub store: Store,
    pub persistence: PersistenceHandle,
}

impl std::fmt::Debug for CallToolRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallToolRunner")
            .field("call_id", &self.context.call_id)
            .field("webhooks", &self.webhooks.len())
            .finish_non_exhaustive()
    }
}

fn report(
    output: serde_json::Value,
    status: &str,
    started: Instant,
    arguments: serde_json::Value,
) -> ToolReport {
    let output = output.to_string();
    ToolReport {
        result_bytes: output.len(),
        output,
        status: status.to_owned(),
        latency_ms: started.elapsed().as_millis() as u64,
        arguments,
    }
}

impl CallToolRunner {
    async fn run_one(self, request: ToolRequest) -> ToolReport {
        let started = Instant::now();
        let args = serde_json::from_str::<serde_json::Value>(&request.arguments)
            .unwrap_or_else(|_| json!({}));
        match request.name.as_str() {
            "lookup_customer" => {
                let ctx = &self.context;
                match self.store.customer_lookup(ctx.org_id, &ctx.from).await {
                    Ok(Some(found)) => {
                        report(json!({"ok": true, "customer": found}), "ok", started, args)
                    }
                    Ok(None) => report(
                        json!({"ok": true, "customer": null, "note": "no record of this caller"}),
                        "ok",
                        started,
                        args,
                    ),
                    Err(err) => {
                        tracing::error!(%err, "lookup_customer failed");
                        report(
                            json!({"ok": false, "error": "unavailable", "message": "the customer records cannot be read right now"}),
                            "error",
                            started,
                            args,
                        )
                    }
                }
            }
            "add_note" => {
                let text = args
                    .get("text")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .trim();
                if text.is_empty() || text.chars().count() > 4000 {
                    return report(
                        json!({"ok": false, "error": "invalid_arguments", "message": "text is 1 to 4000 characters"}),
                        "invalid_arguments",
                        started,
                        args,
                    );
                }
                let ctx = &self.context;
                let note = NewMessage {
                    id: Uuid::new_v5(&ctx.call_id, format!("note/{}", request.call_id).as_bytes()),
                    org_id: ctx.org_id,
                    conversation_id: ctx.conversation_id,
                    message_type: MessageType::Note,
                    direction: MessageDirection::Internal,
                    sender: Sender {
                        identifier: "ai".to_owned(),
                        name: Some("AI agent".to_owned()),
                        sender_type: SenderType::Ai,
                        phone_number: None,
                    },
                    content: text.replace('\0', "\u{FFFD}"),
                    timestamp: chrono::Utc::now(),
                    metadata: json!({ "call_id": ctx.call_id, "tool_call_id": request.call_id }),
                    system_event: None,
                };
                match self.persistence.persist(PersistItem::Message(note)) {
                    Ok(()) => report(json!({"ok": true}), "ok", started, args),
                    Err(_) => report(
                        json!({"ok": false, "error": "busy", "message": "the note could not be saved now"}),
                        "busy",
                        started,
                        args,
                    ),
                }
            }
            name => {
                let Some(tool) = self.webhooks.iter().find(|t| t.name == name) else {
                    return report(
                        json!({"ok": false, "error": "unknown_tool", "message": format!("no tool named {name}")}),
                        "unknown_tool",
                        started,
                        json!({}),
                    );
                };
                let Some(secret) = &self.secret else {
                    return report(
                        json!({"ok": false, "error": "not_configured",
                               "message": "the organization has no tool secret: the tool cannot be called"}),
                        "not_configured",
                        started,
                        masked(&args, &tool.secret_fields),
                    );
                };
                let outcome = self
                    .client
                    .call(
                        tool,
                        secret,
                        &self.context,
                        &request.call_id,
                        &request.arguments,
                    )
                    .await;
                let record =
                    ToolCallRecord::new(tool, &request.call_id, &request.arguments, &outcome);
                ToolReport {
                    output: outcome.output,
                    status: record.status.to_owned(),
                    latency_ms: record.latency_ms,
                    result_bytes: record.result_bytes,
                    arguments: record.arguments,
                }
            }
        }
    }
}

impl ToolRunner for CallToolRunner {
    fn run(&self, request: ToolRequest) -> Pin<Box<dyn Future<Output = ToolReport> + Send>> {
        Box::pin(self.clone().run_one(request))
    }
}
