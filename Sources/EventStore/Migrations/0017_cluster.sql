-- Many nodes on one database (docs/architecture.md, "Many nodes"). Each node holds a lease it
-- renews in place every few seconds: heartbeats are not events (the log is forever), but a
-- node's start, stop and loss are. A channel is live on one node at a time: its row here names
-- the node, taken when a publish is accepted and given back when the session ends; a node whose
-- lease expired, or whose session waits for its encoder, holds it no more against a new publish.

CREATE TABLE node_leases (
    node_id text PRIMARY KEY,
    url text NOT NULL,
    version text NOT NULL,
    started_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    -- live, stopped (said goodbye) or lost (another node found its lease expired)
    state text NOT NULL DEFAULT 'live'
);

CREATE TABLE channel_leases (
    channel_id text PRIMARY KEY,
    node_id text NOT NULL,
    -- New at every take: a session gives back only the take it made, never a later one's.
    token text NOT NULL,
    -- The holder's session waits for its encoder (grace window): another node may take the
    -- channel, and the holder ends that session when it sees so.
    waiting boolean NOT NULL DEFAULT false,
    -- The holder's changes of `waiting` in the order it made them (they may arrive out of order).
    waiting_order bigint NOT NULL DEFAULT 0,
    claimed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX channel_leases_node_idx ON channel_leases (node_id);
