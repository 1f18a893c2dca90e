//! Supervision as the core keeps it: who speaks to the caller (the AI, the AI with a supervisor
//! barged in, or a supervisor who has taken the call over), which commands the call accepts as it
//! is, what the caller said while it was taken over, and the words that hand it back to the AI.
//! The command types are in [`crate::call::supervision`].

use super::CallFacts;
use crate::call::supervision::{SuperviseError, SupervisionMode};

/// See the module documentation.
pub(super) struct Supervised {
    mode: SupervisionMode,
    /// What the caller said while the call was taken over (replayed to the AI at release).
    said_while_taken_over: Vec<String>,
}

/// A taken-over call handed back to the AI.
pub(super) struct Released {
    /// What the AI is told (a system item), with what the caller said meanwhile.
    pub(super) context: String,
    /// How many of the caller's utterances it carries.
    pub(super) replayed: usize,
}

/// What the AI is told of a supervisor's whisper.
pub(super) fn guidance(whisper: &str) -> String {
    format!("Guidance from your supervisor (the caller does not hear this): {whisper}")
}

impl Supervised {
    pub(super) fn new() -> Self {
        Supervised {
            mode: SupervisionMode::Ai,
            said_while_taken_over: Vec::new(),
        }
    }

    pub(super) fn restore(&mut self, facts: &CallFacts) {
        self.mode = facts.mode;
        self.said_while_taken_over = facts.said_while_taken_over.clone();
    }

    pub(super) fn save_facts(&self, facts: &mut CallFacts) {
        facts.mode = self.mode;
        if facts.said_while_taken_over.len() != self.said_while_taken_over.len() {
            facts
                .said_while_taken_over
                .clone_from(&self.said_while_taken_over);
        }
    }

    pub(super) fn mode(&self) -> SupervisionMode {
        self.mode
    }

    pub(super) fn is_taken_over(&self) -> bool {
        self.mode == SupervisionMode::TakenOver
    }

    /// The caller said `transcript`: kept for the AI while the call is taken over.
    pub(super) fn caller_said(&mut self, transcript: &str) {
        if self.is_taken_over() {
            self.said_while_taken_over.push(transcript.to_owned());
        }
    }

    /// A supervisor is mixed in with the AI (not over a supervisor who has the call).
    pub(super) fn barge(&mut self) -> Result<(), SuperviseError> {
        if self.is_taken_over() {
            return Err(SuperviseError::TakenOver);
        }
        self.mode = SupervisionMode::Barged;
        Ok(())
    }

    pub(super) fn unbarge(&mut self) -> Result<(), SuperviseError> {
        if self.mode != SupervisionMode::Barged {
            return Err(SuperviseError::NotBarged);
        }
        self.mode = SupervisionMode::Ai;
        Ok(())
    }

    /// A supervisor alone speaks to the caller.
    pub(super) fn take_over(&mut self) {
        self.mode = SupervisionMode::TakenOver;
        self.said_while_taken_over.clear();
    }

    /// The AI has the call again, and is told what the caller said meanwhile.
    pub(super) fn release(&mut self) -> Result<Released, SuperviseError> {
        if !self.is_taken_over() {
            return Err(SuperviseError::NotTakenOver);
        }
        self.mode = SupervisionMode::Ai;
        let said = std::mem::take(&mut self.said_while_taken_over);
        let context = if said.is_empty() {
            "A human supervisor spoke with the caller and has handed the call back to you. \
             Continue the conversation."
                .to_owned()
        } else {
            format!(
                "A human supervisor spoke with the caller and has handed the call back to you. \
                 Meanwhile the caller said: \"{}\". Continue the conversation.",
                said.join(" ")
            )
        };
        Ok(Released {
            context,
            replayed: said.len(),
        })
    }
}
