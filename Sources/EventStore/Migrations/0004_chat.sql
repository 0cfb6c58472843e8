-- Read models of chat (projection `chat`, fed from `chat-CHANNEL` rooms and `chat.viewers`).

CREATE TABLE chat_viewers (
    user_id text PRIMARY KEY,
    name text NOT NULL,
    registered_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE chat_rooms (
    channel text PRIMARY KEY,
    settings text NOT NULL,
    changed_at timestamptz NOT NULL,
    changed_by text NOT NULL
);

CREATE TABLE chat_moderators (
    channel text NOT NULL,
    user_id text NOT NULL,
    added_at timestamptz NOT NULL,
    added_by text NOT NULL,
    PRIMARY KEY (channel, user_id)
);

-- Every posted message; deletion marks the row (the log keeps the fact and who did it).
CREATE TABLE chat_messages (
    position bigint PRIMARY KEY,
    message_id uuid NOT NULL UNIQUE,
    channel text NOT NULL,
    user_id text NOT NULL,
    name text NOT NULL,
    text text NOT NULL,
    sent_at timestamptz NOT NULL,
    deleted_position bigint,
    deleted_by text,
    deleted_reason text
);
CREATE INDEX chat_messages_channel_idx ON chat_messages (channel, position);
CREATE INDEX chat_messages_time_idx ON chat_messages (channel, sent_at);

-- One row per ban; an unban closes it. History `asOf` a position reads the bans in force then.
CREATE TABLE chat_bans (
    channel text NOT NULL,
    user_id text NOT NULL,
    banned_position bigint NOT NULL,
    banned_at timestamptz NOT NULL,
    banned_by text NOT NULL,
    reason text,
    unbanned_position bigint,
    unbanned_at timestamptz,
    unbanned_by text,
    PRIMARY KEY (channel, banned_position)
);
CREATE INDEX chat_bans_user_idx ON chat_bans (channel, user_id);

CREATE TABLE chat_timeouts (
    channel text NOT NULL,
    user_id text NOT NULL,
    until timestamptz NOT NULL,
    timed_out_at timestamptz NOT NULL,
    timed_out_by text NOT NULL,
    reason text,
    PRIMARY KEY (channel, user_id)
);
