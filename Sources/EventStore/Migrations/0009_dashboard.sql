-- The console's read models (projection `dashboard`, Sources/Gateway/Console): every session with
-- its latest figures and running totals (the post-stream report), its timeline (samples, quality
-- changes, renditions, reconnects, audience), and recent refusals and moderation actions.

CREATE TABLE dashboard_sessions (
    session_id text PRIMARY KEY,
    channel_id text NOT NULL,
    channel_name text NOT NULL,
    protocol text NOT NULL,
    remote_address text NOT NULL,
    encoder text,
    -- StreamStarted's video and audio descriptions
    media jsonb NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    end_reason text,
    end_detail text,
    live boolean NOT NULL,
    -- the latest sample
    bitrate integer NOT NULL DEFAULT 0,
    frame_rate double precision NOT NULL DEFAULT 0,
    sampled_at timestamptz,
    quality text,
    -- running totals (averages are sum / count)
    samples integer NOT NULL DEFAULT 0,
    bitrate_sum double precision NOT NULL DEFAULT 0,
    frame_rate_sum double precision NOT NULL DEFAULT 0,
    bytes_received bigint NOT NULL DEFAULT 0,
    dropped_frames bigint NOT NULL DEFAULT 0,
    late_frames bigint NOT NULL DEFAULT 0,
    reconnects integer NOT NULL DEFAULT 0,
    quality_changes integer NOT NULL DEFAULT 0,
    -- renditions on now: {"720p": {...RenditionStarted}, ...}
    renditions jsonb NOT NULL DEFAULT '{}',
    viewers integer NOT NULL DEFAULT 0,
    peak_viewers integer NOT NULL DEFAULT 0,
    viewer_samples integer NOT NULL DEFAULT 0,
    viewer_sum bigint NOT NULL DEFAULT 0,
    -- the players' experience (CMCD), as last aggregated
    qoe jsonb,
    chat_messages integer NOT NULL DEFAULT 0,
    moderation_actions integer NOT NULL DEFAULT 0
);
CREATE INDEX dashboard_sessions_channel_idx ON dashboard_sessions (channel_name, started_at DESC);
CREATE INDEX dashboard_sessions_live_idx ON dashboard_sessions (channel_name) WHERE live;
CREATE INDEX dashboard_sessions_started_idx ON dashboard_sessions (started_at DESC);

CREATE TABLE dashboard_timeline (
    session_id text NOT NULL,
    position bigint NOT NULL,
    at timestamptz NOT NULL,
    -- sample, quality, rendition, resumed, audience, started, ended
    kind text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (session_id, position)
);
CREATE INDEX dashboard_timeline_kind_idx ON dashboard_timeline (session_id, kind, position);

CREATE TABLE dashboard_activity (
    position bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    -- refusal or moderation
    kind text NOT NULL,
    event_type text NOT NULL,
    channel text,
    actor text NOT NULL,
    reason text,
    data jsonb NOT NULL
);
CREATE INDEX dashboard_activity_kind_idx ON dashboard_activity (kind, position DESC);
CREATE INDEX dashboard_activity_channel_idx ON dashboard_activity (channel, position DESC);
