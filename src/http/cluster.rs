//! The cluster over REST (admins): its nodes with their load, and draining one.

use serde::Serialize;
use utoipa::ToSchema;
use warp::{Rejection, Reply};

use super::deps::Calls;
use super::error::{ApiError, ErrorBody};
use crate::auth::Principal;
use crate::cluster::monitor::{RelayLatency, relay_latency};
use crate::store::Store;
use crate::store::cluster::NodeRow;

fn this_node(calls: &Calls) -> Result<&std::sync::Arc<crate::cluster::Node>, ApiError> {
    calls
        .node
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this process is not a node".into()))
}

/// One node in `GET /api/v1/cluster`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterNode {
    #[serde(flatten)]
    pub node: NodeRow,
    /// Whether this is the node that answered.
    pub this_node: bool,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cluster {
    /// The node that answered.
    pub node: String,
    /// Whether nodes share NATS (else this node is on its own).
    pub clustered: bool,
    pub nodes: Vec<ClusterNode>,
    /// Supervisor audio relayed from other nodes to this one's listeners, as they measured it.
    pub relay_latency: RelayLatency,
}

/// The nodes, those up first: their state, version, live calls (all, and the organization's),
/// capacity, load and whether they drain.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, body = Cluster), (status = 403, body = ErrorBody)))]
pub async fn nodes(
    p: Principal,
    store: Store,
    calls: Calls,
) -> Result<warp::reply::Response, Rejection> {
    let node = this_node(&calls)?;
    let nodes = store
        .cluster_nodes(p.org_id)
        .await?
        .into_iter()
        .map(|row| ClusterNode {
            this_node: row.id == node.id,
            node: row,
        })
        .collect();
    Ok(warp::reply::json(&Cluster {
        node: node.id.clone(),
        clustered: node.bus.is_some(),
        nodes,
        relay_latency: relay_latency(),
    })
    .into_response())
}

/// Drains the node: it takes no new calls (`/ready` answers 503 `draining`), lets its live calls
/// finish (up to `cluster.drain_timeout_s`), then stops. Asked of another node over NATS.
#[utoipa::path(post, path = "/api/v1/cluster/nodes/{id}/drain", tag = "cluster",
    params(("id" = String, Path, description = "The node's id")),
    responses((status = 202, description = "Draining"), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn drain(
    id: String,
    _p: Principal,
    store: Store,
    calls: Calls,
) -> Result<warp::reply::Response, Rejection> {
    let node = this_node(&calls)?;
    if !crate::config::is_node_id(&id) {
        return Err(ApiError::NotFound(format!("node `{}`", id.escape_default())).into());
    }
    if id == node.id {
        node.drain();
    } else {
        if !store.node_is_up(&id).await? {
            return Err(ApiError::NotFound(format!("node `{id}` (up)")).into());
        }
        let bus = node.bus.as_ref().ok_or_else(|| {
            ApiError::Conflict(format!(
                "node `{id}` is not reachable: this node is not clustered"
            ))
        })?;
        crate::cluster::request_drain(bus, &id)
            .await
            .map_err(|e| match e {
                crate::cluster::link::LinkError::NotLive => {
                    ApiError::Conflict(format!("node `{id}` did not answer"))
                }
                other => ApiError::Unavailable(other.to_string()),
            })?;
    }
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "node": id, "draining": true })),
        warp::http::StatusCode::ACCEPTED,
    )
    .into_response())
}
