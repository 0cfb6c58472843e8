-- The DVR index and recordings (projection `dvr`, fed from SegmentPublished, RecordingFinalized and
-- RecordingDeleted): what the live DVR window and the VOD playlists are rebuilt from after a restart.

CREATE TABLE dvr_segments (
    session_id uuid NOT NULL,
    rendition text NOT NULL,
    media_sequence bigint NOT NULL,
    channel_id uuid NOT NULL,
    kind text NOT NULL,
    duration double precision NOT NULL,
    bytes bigint NOT NULL,
    program_date_time timestamptz NOT NULL,
    path text NOT NULL,
    discontinuity boolean NOT NULL,
    codecs text NOT NULL,
    width integer,
    height integer,
    frame_rate double precision,
    position bigint NOT NULL,
    PRIMARY KEY (session_id, rendition, media_sequence)
);

CREATE TABLE recordings (
    session_id uuid PRIMARY KEY,
    channel_id uuid NOT NULL,
    channel_name text NOT NULL,
    started_at timestamptz NOT NULL,
    last_segment_at timestamptz NOT NULL,
    -- live: segments still arriving (or the node died: finalized at its next start);
    -- finalized: plays as VOD; deleted: files gone.
    state text NOT NULL,
    finalized_at timestamptz,
    finalize_reason text,
    duration double precision,
    deleted_at timestamptz,
    delete_reason text
);
CREATE INDEX recordings_channel_idx ON recordings (channel_id, started_at);
CREATE INDEX recordings_state_idx ON recordings (state);
