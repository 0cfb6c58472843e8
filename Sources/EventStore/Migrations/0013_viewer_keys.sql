-- Personal data and erasure (docs/architecture.md#personal-data-and-erasure): each viewer's data
-- key, outside the hashed log. Events hold personal fields sealed under the key (AES-256-GCM);
-- `streamd viewers erase` deletes the row, and with it every way to read them.
CREATE TABLE viewer_keys (
    user_id text PRIMARY KEY,
    key_id uuid NOT NULL UNIQUE,
    key bytea NOT NULL CHECK (octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The read models mark what an erasure blanked (the position of its `ViewerErased`).
ALTER TABLE chat_messages ADD COLUMN erased_position bigint;
ALTER TABLE chat_viewers ADD COLUMN erased_position bigint;
-- An erasure blanks one viewer's messages.
CREATE INDEX chat_messages_user_idx ON chat_messages (user_id, position);
