-- Read models of the quality machine (projection `quality`, fed from session and channel events).
-- (0005 because the chat helper takes 0004; renumber on merge if needed.)

CREATE TABLE quality_sessions (
    session_id text PRIMARY KEY,
    channel_id text NOT NULL,
    -- HIGH, MEDIUM, LOW, VERY_LOW, ERROR or RECOVERY
    state text NOT NULL,
    -- the level whose renditions are on (the one RECOVERY probes from)
    level text NOT NULL,
    since timestamptz NOT NULL,
    -- 0 to 100 (QualityHealth)
    health integer NOT NULL,
    live boolean NOT NULL,
    updated_at timestamptz NOT NULL,
    -- the session's machine and input mapping, so that the next event continues exactly
    record jsonb NOT NULL
);
CREATE INDEX quality_sessions_live_channel_idx ON quality_sessions (channel_id) WHERE live;

CREATE TABLE quality_thresholds (
    channel_id text PRIMARY KEY,
    thresholds jsonb NOT NULL,
    configured_at timestamptz NOT NULL
);
