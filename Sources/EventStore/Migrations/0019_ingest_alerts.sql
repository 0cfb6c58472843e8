-- Ingest alerts (projection `ingest-alerts`, Sources/Quality/Alerts): each session's open alerts
-- and the state of its rules, and the rules set per channel. The console shows open alerts from
-- its own model (`dashboard_sessions.alerts`).

CREATE TABLE ingest_alert_sessions (
    session_id text PRIMARY KEY,
    channel_id text NOT NULL,
    live boolean NOT NULL,
    -- open alerts, in rule order: [{rule, measured, limit, message, since}]; empty once ended
    open jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    -- the session's rules and their runs, so that the next window continues exactly
    record jsonb NOT NULL
);
CREATE INDEX ingest_alert_sessions_live_channel_idx ON ingest_alert_sessions (channel_id) WHERE live;

CREATE TABLE ingest_alert_rules (
    channel_id text PRIMARY KEY,
    rules jsonb NOT NULL,
    configured_at timestamptz NOT NULL
);

-- open alerts by rule: {"keyframeInterval": {...IngestAlertRaised}, ...}
ALTER TABLE dashboard_sessions ADD COLUMN alerts jsonb NOT NULL DEFAULT '{}';
