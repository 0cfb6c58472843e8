-- Read models of the channel aggregate (projection `channels`, fed from `channel-*` events).

CREATE TABLE channels (
    channel_id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    active_key_id uuid
);

-- Only hashes: a stream key is shown once to its owner and never stored.
CREATE TABLE stream_keys (
    key_id uuid PRIMARY KEY,
    key_hash bytea NOT NULL UNIQUE,
    channel_id uuid NOT NULL,
    channel_name text NOT NULL,
    issued_at timestamptz NOT NULL,
    issued_by text NOT NULL,
    revoked_at timestamptz,
    revoked_by text,
    revoke_reason text
);
CREATE INDEX stream_keys_channel_idx ON stream_keys (channel_id);
