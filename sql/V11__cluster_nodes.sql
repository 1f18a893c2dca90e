-- The cluster (issue 17): every node reports itself here with heartbeats. A call's node is the one
-- whose socket carries it (`calls.node`, set when its stream starts); its lease is that node's
-- heartbeat: a node silent for `cluster.node_lost_s` is marked lost by another node, which ends its
-- live calls (`node_lost`). One node on its own keeps one row here too.
CREATE TABLE cluster_nodes (
    id              TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    url             TEXT NOT NULL,
    version         TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    heartbeat_at    TIMESTAMPTZ NOT NULL,
    max_calls       INTEGER NOT NULL CHECK (max_calls > 0),
    live_calls      INTEGER NOT NULL DEFAULT 0 CHECK (live_calls >= 0),
    loop_lag_ms     INTEGER NOT NULL DEFAULT 0 CHECK (loop_lag_ms >= 0),
    draining        BOOLEAN NOT NULL DEFAULT false,
    state           TEXT NOT NULL DEFAULT 'up' CHECK (state IN ('up', 'stopped', 'lost')),
    left_at         TIMESTAMPTZ
);

-- The live calls of a node (the lost-node sweep and the cluster listing).
CREATE INDEX calls_live_by_node ON calls (node) WHERE ended_at IS NULL AND node IS NOT NULL;

-- A node's recent calls (what a restarted node checks for recordings to repair).
CREATE INDEX calls_node_started ON calls (node, started_at) WHERE node IS NOT NULL;
