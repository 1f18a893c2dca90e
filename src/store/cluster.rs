//! The cluster in the store (`sql/V11__cluster_nodes.sql`): nodes' heartbeats and their listing,
//! the node with room for a call, which node carries a call, and the calls that lost their node.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Store, StoreError};

/// What a node reports with each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub id: String,
    /// Where Twilio and clients reach it (`http.public_url`).
    pub url: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub max_calls: u32,
    pub live_calls: u32,
    pub loop_lag_ms: u32,
    pub draining: bool,
}

/// A node as `GET /api/v1/cluster` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NodeRow {
    pub id: String,
    pub url: String,
    pub version: String,
    /// `up`, `stopped` (left in order) or `lost` (went silent; its calls were ended).
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub max_calls: i32,
    /// Live calls of every organization on the node (its load).
    pub live_calls: i32,
    /// Those of the caller's organization.
    pub org_live_calls: i64,
    /// How late the node's runtime ran on its timers at its last heartbeat.
    pub loop_lag_ms: i32,
    pub draining: bool,
}

/// A live call whose node is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanCall {
    pub org_id: Uuid,
    pub call_id: Uuid,
    pub conversation_id: Uuid,
    pub call_sid: String,
    pub node: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// A node that can take a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeWithRoom {
    pub id: String,
    pub url: String,
}

fn orphan(row: &tokio_postgres::Row) -> Result<OrphanCall, StoreError> {
    Ok(OrphanCall {
        org_id: row.try_get(0)?,
        call_id: row.try_get(1)?,
        conversation_id: row.try_get(2)?,
        call_sid: row.try_get(3)?,
        node: row.try_get(4)?,
        started_at: row.try_get(5)?,
        answered_at: row.try_get(6)?,
    })
}

const ORPHAN_COLUMNS: &str =
    "c.org_id, c.id, c.conversation_id, c.call_sid, c.node, c.started_at, c.answered_at";

impl Store {
    /// Records the node as up with its figures (its calls' lease renewed with it).
    pub async fn node_heartbeat(&self, node: &NodeReport) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO cluster_nodes (id, url, version, started_at, heartbeat_at, max_calls,
                                            live_calls, loop_lag_ms, draining, state, left_at)
                 VALUES ($1, $2, $3, $4, now(), $5, $6, $7, $8, 'up', NULL)
                 ON CONFLICT (id) DO UPDATE SET
                     url = EXCLUDED.url, version = EXCLUDED.version,
                     started_at = EXCLUDED.started_at, heartbeat_at = now(),
                     max_calls = EXCLUDED.max_calls, live_calls = EXCLUDED.live_calls,
                     loop_lag_ms = EXCLUDED.loop_lag_ms, draining = EXCLUDED.draining,
                     state = 'up', left_at = NULL",
                &[
                    &node.id,
                    &node.url,
                    &node.version,
                    &node.started_at,
                    &(node.max_calls.min(i32::MAX as u32) as i32),
                    &(node.live_calls.min(i32::MAX as u32) as i32),
                    &(node.loop_lag_ms.min(i32::MAX as u32) as i32),
                    &node.draining,
                ],
            )
            .await?;
        Ok(())
    }

    /// The node stopped in order (its calls ended first).
    pub async fn node_stopped(&self, id: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE cluster_nodes SET state = 'stopped', left_at = now(), live_calls = 0,
                        draining = false
                 WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(())
    }

    /// Every node known, those up first; `org_live_calls` counts `org_id`'s calls on each.
    pub async fn cluster_nodes(&self, org_id: Uuid) -> Result<Vec<NodeRow>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT n.id, n.url, n.version, n.state, n.started_at, n.heartbeat_at, n.left_at,
                        n.max_calls, n.live_calls, n.loop_lag_ms, n.draining,
                        (SELECT count(*) FROM calls c
                          WHERE c.node = n.id AND c.ended_at IS NULL AND c.org_id = $1)
                 FROM cluster_nodes n
                 ORDER BY n.state = 'up' DESC, n.id",
                &[&org_id],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(NodeRow {
                    id: row.try_get(0)?,
                    url: row.try_get(1)?,
                    version: row.try_get(2)?,
                    state: row.try_get(3)?,
                    started_at: row.try_get(4)?,
                    heartbeat_at: row.try_get(5)?,
                    left_at: row.try_get(6)?,
                    max_calls: row.try_get(7)?,
                    live_calls: row.try_get(8)?,
                    loop_lag_ms: row.try_get(9)?,
                    draining: row.try_get(10)?,
                    org_live_calls: row.try_get(11)?,
                })
            })
            .collect()
    }

    /// Whether `id` names a node that is up.
    pub async fn node_is_up(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM cluster_nodes WHERE id = $1 AND state = 'up'",
                &[&id],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Marks lost the nodes (other than `me`) silent for `silent_s` seconds; their ids. One
    /// statement: of several nodes sweeping at once, one marks each.
    pub async fn mark_lost_nodes(
        &self,
        me: &str,
        silent_s: u64,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "UPDATE cluster_nodes SET state = 'lost', left_at = now(), live_calls = 0
                 WHERE state = 'up' AND id <> $1
                   AND heartbeat_at < now() - make_interval(secs => $2)
                 RETURNING id",
                &[&me, &(silent_s as f64)],
            )
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    /// Live calls (at most `limit`) whose node is lost, stopped or unknown, other than `me`'s.
    pub async fn orphaned_calls(
        &self,
        me: &str,
        limit: i64,
    ) -> Result<Vec<OrphanCall>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ORPHAN_COLUMNS} FROM calls c
                     LEFT JOIN cluster_nodes n ON n.id = c.node
                     WHERE c.ended_at IS NULL AND c.node IS NOT NULL AND c.node <> $1
                       AND (n.id IS NULL OR n.state <> 'up')
                     ORDER BY c.started_at LIMIT $2"
                ),
                &[&me, &limit],
            )
            .await?;
        rows.iter().map(orphan).collect()
    }

    /// What `node` may have left behind when it last ran (read at its start, before it takes
    /// calls): its calls still live, and its calls of the last week with no recording row (a
    /// recording's row is written when it is finalized; a killed node never wrote it). Whether
    /// each call has ended is the second field.
    pub async fn calls_to_recover(
        &self,
        node: &str,
    ) -> Result<Vec<(OrphanCall, bool)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ORPHAN_COLUMNS}, c.ended_at IS NOT NULL FROM calls c
                     WHERE c.node = $1
                       AND (c.ended_at IS NULL
                            OR (c.started_at > now() - interval '7 days'
                                AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id)))
                     ORDER BY c.started_at LIMIT 10000"
                ),
                &[&node],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((orphan(row)?, row.try_get(7)?)))
            .collect()
    }

    /// Records that `node` carries the call (its stream started there).
    pub async fn set_call_node(&self, call_id: Uuid, node: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE calls SET node = $2 WHERE id = $1 AND ended_at IS NULL",
                &[&call_id, &node],
            )
            .await?;
        Ok(())
    }

    /// The least loaded other node that is up, heard from within `fresh_s`, not draining and
    /// below its `max_calls` (by its last heartbeat).
    pub async fn node_with_room(
        &self,
        me: &str,
        fresh_s: u64,
    ) -> Result<Option<NodeWithRoom>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT id, url FROM cluster_nodes
                 WHERE state = 'up' AND id <> $1 AND NOT draining AND live_calls < max_calls
                   AND heartbeat_at >= now() - make_interval(secs => $2)
                 ORDER BY live_calls::float8 / max_calls, id LIMIT 1",
                &[&me, &(fresh_s as f64)],
            )
            .await?;
        row.map(|r| {
            Ok(NodeWithRoom {
                id: r.try_get(0)?,
                url: r.try_get(1)?,
            })
        })
        .transpose()
    }
}
