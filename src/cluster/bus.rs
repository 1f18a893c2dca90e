//! The node's connection to NATS: authenticated with the configured user and password, named
//! after the node, reconnecting on its own (async-nats keeps subscriptions across reconnects and
//! buffers what is published meanwhile).

use std::time::Duration;

use async_nats::jetstream;

use crate::config::Config;

/// How long a request to another node may take before it fails (`TimedOut`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);

/// The bus could not be reached or used.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("NATS JetStream: {0} (start nats-server with -js)")]
    JetStream(String),
}

/// The connection and its JetStream context; clones share them.
#[derive(Clone, Debug)]
pub struct Bus {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
}

impl Bus {
    /// Connects to `cluster.nats_url` (`None` without one). The URL is logged without any
    /// credentials it may carry.
    pub async fn connect(config: &Config, node: &str) -> Result<Option<Bus>, BusError> {
        let Some(url) = &config.cluster.nats_url else {
            return Ok(None);
        };
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("switchboard {node}"))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .connection_timeout(Duration::from_secs(5))
            // Monitor frames of many listeners share the connection: room for bursts.
            .client_capacity(8192)
            .subscription_capacity(8192)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("NATS connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("NATS disconnected: reconnecting")
                    }
                    other => tracing::warn!(event = %other, "NATS"),
                }
            });
        if !config.cluster.nats_user.is_empty() {
            options = options.user_and_password(
                config.cluster.nats_user.clone(),
                config.cluster.nats_password.expose().to_owned(),
            );
        }
        let client = options
            .connect(url.as_str())
            .await
            .map_err(|e| BusError::Connect {
                url: shown.to_string(),
                reason: e.to_string(),
            })?;
        tracing::info!(url = %shown, %node, "joined the cluster's NATS");
        Ok(Some(Bus {
            jetstream: jetstream::new(client.clone()),
            client,
        }))
    }
}
