//! The model's function calls: `end_call` and `transfer` are the core's own (the call ends, or
//! leaves for a person, once the goodbye has played); the tools of [`CallConfig::tools`] are run
//! by the shell ([`CallEvent::RunTool`]), several at once, and each report comes back through
//! [`CallCore::on_tool_result`]. The model is asked for its next response once every call of a
//! response has its output and no response is playing; while a tool with words to say runs, the
//! agent says them. A transfer is written (`transferred`, with the number) before the stream
//! closes: Twilio then asks the engine what to run next (`<Connect action>`), and the engine
//! reads it there.
//!
//! [`CallConfig::tools`]: super::CallConfig::tools

use std::time::Instant;

use serde_json::json;

use super::{AiCommand, CallCore, CallEvent};
use crate::call::tools::{ToolReport, ToolRequest};
use crate::domain::{EventType, SystemEventKind};

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct ToolCalls {
    /// `call_id`s of the calls running.
    running: Vec<String>,
    /// Words to have the agent say once the response that called the tool is done.
    say: Option<String>,
    /// Every output is in but a response was in progress: ask for the next one when it ends.
    respond_when_idle: bool,
}

impl CallCore {
    /// The model called a function.
    pub fn on_function_call(&mut self, now: Instant, call_id: &str, name: &str, arguments: &str) {
        if let Some(tool) = self.config.tools.iter().find(|t| t.name == name) {
            // Its event and system message are written with its outcome (arguments masked).
            if let Some(words) = &tool.say_while_waiting {
                self.tools.say = Some(words.clone());
            }
            self.tools.running.push(call_id.to_owned());
            self.events.push_back(CallEvent::RunTool(ToolRequest {
                call_id: call_id.to_owned(),
                name: name.to_owned(),
                arguments: arguments.to_owned(),
            }));
            return;
        }
        let args: serde_json::Value =
            serde_json::from_str(arguments).unwrap_or_else(|_| json!({ "raw": arguments }));
        self.ledger.event(
            &mut self.events,
            now,
            EventType::FunctionCalled,
            json!({ "call_id": call_id, "name": name, "arguments": args }),
        );
        let output = match name {
            "end_call" => {
                let reason = args
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("agent ended the call")
                    .to_owned();
                // The response carrying the call is still finishing; the goodbye is the next one.
                self.hangup_after_goodbye = Some((reason, false));
                json!({ "ok": true, "note": "the call ends after your goodbye" })
            }
            "transfer" if !self.config.transfer_targets.is_empty() => self.transfer(now, &args),
            _ => json!({ "ok": false, "error": format!("unknown function {name}") }),
        };
        self.output(call_id, output.to_string());
        self.respond_when_idle();
    }

    /// `transfer`: to a known target, after the agent has said so.
    fn transfer(&mut self, now: Instant, args: &serde_json::Value) -> serde_json::Value {
        let wanted = args.get("target").and_then(|t| t.as_str()).unwrap_or("");
        let Some(target) = self
            .config
            .transfer_targets
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(wanted))
        else {
            let names: Vec<&str> = self
                .config
                .transfer_targets
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            return json!({ "ok": false, "error": format!(
                "no transfer target named '{wanted}': use one of {}", names.join(", ")) });
        };
        let reason = args.get("reason").and_then(|r| r.as_str()).unwrap_or("");
        self.ledger.system_message(
            &mut self.events,
            now,
            self.clock_ms,
            SystemEventKind::Transferred,
            json!({ "target": target.name, "number": target.number, "reason": reason }),
        );
        self.hangup_after_goodbye = Some((format!("transferred to {}", target.name), false));
        json!({ "ok": true, "note": "tell the caller you are transferring them now; the call leaves you after that" })
    }

    /// A tool the shell ran has its report: recorded (event and system message), its output
    /// sent to the model, and the next response asked for once every running call is done.
    pub fn on_tool_result(&mut self, now: Instant, request: &ToolRequest, report: ToolReport) {
        let Some(at) = self
            .tools
            .running
            .iter()
            .position(|id| *id == request.call_id)
        else {
            return;
        };
        self.tools.running.remove(at);
        if self.is_ended() {
            return;
        }
        let details = json!({
            "call_id": request.call_id,
            "name": request.name,
            "arguments": report.arguments,
            "status": report.status,
            "latency_ms": report.latency_ms,
            "result_bytes": report.result_bytes,
        });
        self.ledger.event(
            &mut self.events,
            now,
            EventType::FunctionCalled,
            details.clone(),
        );
        self.ledger.system_message(
            &mut self.events,
            now,
            self.clock_ms,
            SystemEventKind::ToolCalled,
            details,
        );
        self.output(&request.call_id, report.output);
        if self.tools.running.is_empty() {
            self.tools.say = None;
            self.respond_when_idle();
        }
    }

    fn output(&mut self, call_id: &str, output: String) {
        self.events
            .push_back(CallEvent::Ai(AiCommand::FunctionOutput {
                call_id: call_id.to_owned(),
                output,
            }));
    }

    /// Asks for the next response now, or once the one in progress is done.
    fn respond_when_idle(&mut self) {
        if self.response_active {
            self.tools.respond_when_idle = true;
        } else {
            self.tools.respond_when_idle = false;
            self.events
                .push_back(CallEvent::Ai(AiCommand::CreateResponse));
        }
    }

    /// A response ended: the words to say while tools run, or the response their outputs wait
    /// for.
    pub(super) fn after_response(&mut self) {
        if !self.tools.running.is_empty() {
            if let Some(words) = self.tools.say.take() {
                self.events.push_back(CallEvent::Ai(AiCommand::Respond {
                    instructions: format!(
                        "While you look this up, tell the caller briefly, in your own words: {words}"
                    ),
                }));
            }
        } else if self.tools.respond_when_idle {
            self.tools.respond_when_idle = false;
            self.events
                .push_back(CallEvent::Ai(AiCommand::CreateResponse));
        }
    }
}
