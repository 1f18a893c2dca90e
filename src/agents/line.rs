//! One call's line, from the profile version it was given: the realtime session (instructions,
//! voice, model, turn-taking, audio format, tools as function definitions), what the call core
//! needs (tools the shell runs, transfer targets, greeting, longest duration, the agent's name),
//! and the runner of its tools.

use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::call::{
    AiEndpoint, CallConfig, CallDeps, CallTool, ToolRunner, TransferTarget,
};
use switchboard_actors::domain::AudioFormat;
use switchboard_actors::realtime::{self, Tool};

use super::profile::built_in_tool;
use super::runner::CallToolRunner;
use crate::store::Store;
use crate::store::agents::CallProfile;
use crate::store::calls::StreamCall;
use crate::tools::{ToolContext, WebhookTool};
use crate::twilio::media::MediaSettings;

/// See the module documentation.
pub struct CallLine {
    profile: CallProfile,
    webhooks: Vec<WebhookTool>,
    runner: Option<Arc<dyn ToolRunner>>,
}

impl CallLine {
    /// Reads the profile's webhook tools and sets up their runner.
    pub async fn build(
        store: &Store,
        media: &MediaSettings,
        call: &StreamCall,
        profile: &CallProfile,
        tool_secret: Option<Arc<Vec<u8>>>,
    ) -> CallLine {
        let config = &profile.config;
        let named: Vec<String> = config
            .tools
            .iter()
            .filter(|t| built_in_tool(t, &[]).is_none())
            .cloned()
            .collect();
        let webhooks = if named.is_empty() {
            Vec::new()
        } else {
            match store.webhook_tools_named(call.org_id, &named).await {
                Ok(tools) => tools,
                Err(err) => {
                    // The call goes on without them (the model is not told of them).
                    tracing::error!(%err, call_sid = %call.call_sid, "cannot read the profile's webhook tools");
                    Vec::new()
                }
            }
        };
        let runs_tools = !webhooks.is_empty()
            || config
                .tools
                .iter()
                .any(|t| t == "lookup_customer" || t == "add_note");
        let runner = runs_tools.then(|| {
            Arc::new(CallToolRunner {
                client: media.tool_client.clone(),
                webhooks: Arc::new(webhooks.clone()),
                secret: tool_secret,
                context: Arc::new(ToolContext {
                    org_id: call.org_id,
                    call_id: call.call_id,
                    conversation_id: call.conversation_id,
                    call_sid: call.call_sid.clone(),
                    from: call.from_number.clone(),
                    to: call.to_number.clone(),
                    profile_id: Some(profile.id),
                    profile_version: Some(profile.version),
                }),
                store: store.clone(),
                persistence: media.deps.persistence.clone(),
            }) as Arc<dyn ToolRunner>
        });
        CallLine {
            profile: profile.clone(),
            webhooks,
            runner,
        }
    }

    /// Sets the call's configuration, AI session and tool runner from the line.
    pub fn apply(self, config: &mut CallConfig, ai: &mut AiEndpoint, deps: &mut CallDeps) {
        let p = &self.profile.config;
        let targets: Vec<super::profile::TransferTarget> = p.transfer_targets.clone();
        let mut tools: Vec<Tool> = Vec::new();
        let mut shell_tools = Vec::new();
        for name in &p.tools {
            if let Some(tool) = built_in_tool(name, &targets) {
                if name == "lookup_customer" || name == "add_note" {
                    shell_tools.push(CallTool {
                        name: name.clone(),
                        say_while_waiting: None,
                    });
                }
                tools.push(tool);
            } else if let Some(hook) = self.webhooks.iter().find(|w| w.name == *name) {
                tools.push(Tool::new(
                    hook.name.clone(),
                    hook.description.clone(),
                    hook.parameters.clone(),
                ));
                shell_tools.push(CallTool {
                    name: hook.name.clone(),
                    say_while_waiting: hook.say_while_waiting.clone(),
                });
            }
        }
        ai.session = p.session(&ai.session, tools);
        ai.dialect = realtime::Dialect::for_model(&ai.session.model);
        config.audio_format = match ai.session.audio_format {
            realtime::AudioFormat::Pcm16 => AudioFormat::Pcm16,
            _ => AudioFormat::G711Ulaw,
        };
        config.agent_name = format!("{} (AI)", p.name);
        config.tools = shell_tools;
        config.transfer_targets = if p.tools.iter().any(|t| t == "transfer") {
            targets
                .iter()
                .map(|t| TransferTarget {
                    name: t.name.clone(),
                    number: t.number.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        config.greeting = p
            .greeting
            .agent_speaks_first
            .then(|| p.greeting.text.clone().unwrap_or_default());
        config.max_duration = p
            .max_call_minutes
            .map(|m| Duration::from_secs(u64::from(m) * 60));
        deps.tools = self.runner;
    }
}
