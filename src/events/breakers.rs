//! AI circuit breakers' changes as live events: `ai.breaker_opened` and `ai.breaker_closed` (a
//! half-open breaker is not an event: it closes or opens again on its probe). A breaker of an
//! organization's own key is that organization's event; a breaker of the engine's key concerns
//! every organization, and each gets it.

use serde_json::json;
use switchboard_actors::ai_health::{BreakerChange, KeyScope, Transition};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::{EventBus, EventKind, NewLiveEvent};
use crate::store::Store;

/// Publishes every change `changes` reports until the health registry is dropped.
pub async fn publish(mut changes: Receiver<BreakerChange>, store: Store, bus: EventBus) {
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "breaker changes were missed by the event publisher");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let (kind, why) = match &change.transition {
            Transition::Opened(why) => (EventKind::AiBreakerOpened, Some(why.clone())),
            Transition::Closed => (EventKind::AiBreakerClosed, None),
            Transition::HalfOpened => continue,
        };
        let orgs = match change.scope {
            KeyScope::Org(org) => vec![org],
            KeyScope::Engine => match store.organization_ids().await {
                Ok(orgs) => orgs,
                Err(err) => {
                    tracing::warn!(%err, "cannot list organizations for a breaker event");
                    continue;
                }
            },
        };
        let data = json!({
            "service": change.service.as_str(),
            "key": match change.scope { KeyScope::Engine => "engine", KeyScope::Org(_) => "organization" },
            "reason": why,
        });
        bus.publish_all(
            orgs.into_iter()
                .map(|org| NewLiveEvent::new(kind, org, data.clone())),
        );
    }
}
