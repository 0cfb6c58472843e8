-- Archiving (docs/architecture.md, "Archive"): bulky history (segment and statistics events, by
-- default) at or below a position moves out of `events` into a file that carries each event's
-- inclusion proof against a signed checkpoint. The Merkle tree and checkpoints stay, so every
-- proof and `events verify --checkpoint … --archive FILE` still cover those positions.

-- One row per archive written; the file's SHA-256 pins what was moved out.
CREATE TABLE event_archives (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    through_position bigint NOT NULL,
    file_name text NOT NULL,
    file_sha256 bytea NOT NULL,
    event_count bigint NOT NULL,
    checkpoint_size bigint NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);

-- The hash chain goes on over archived positions: for each event stored right after archived
-- ones, the chain's value before it (the archived predecessor's hash).
CREATE TABLE event_chain_anchors (
    position bigint PRIMARY KEY,
    previous_hash bytea NOT NULL
);

CREATE TRIGGER event_archives_append_only BEFORE UPDATE OR DELETE ON event_archives
    FOR EACH ROW EXECUTE FUNCTION streamd_refuse_event_change();
CREATE TRIGGER event_chain_anchors_append_only BEFORE UPDATE OR DELETE ON event_chain_anchors
    FOR EACH ROW EXECUTE FUNCTION streamd_refuse_event_change();

-- Deleting an event is still refused, except inside `streamd events archive`'s transaction
-- (which sets streamd.archive) and only at or below a recorded archive's position. Only the
-- schema's owner holds DELETE on `events`; the application's role cannot archive.
CREATE FUNCTION streamd_refuse_event_change_unless_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('streamd.archive', true) = 'on'
       AND OLD.position <= (SELECT max(through_position) FROM event_archives) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
        USING HINT = 'append a correcting event instead; old history moves out with `streamd events archive`';
END
$$;
DROP TRIGGER events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION streamd_refuse_event_change_unless_archived();
