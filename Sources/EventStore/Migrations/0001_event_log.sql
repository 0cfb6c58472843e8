-- The event log (DESIGN.md §4).
--
-- Ordering: one counter row, `event_log_head`, is locked by every append transaction before it
-- takes positions and is released only at commit. Appends are therefore serialized, positions are
-- dense, and commit order equals position order: a reader that polls `position > P` can never
-- miss a row that commits later with a lower position, because no such row can exist. The cost
-- is one writer at a time, which group commit (many appends per transaction) pays back.
--
-- Tamper evidence: each row's `hash` is SHA-256 over the previous row's hash and the row's
-- canonical text (`streamd_event_canonical`); the head keeps the last hash. Computing it here, not
-- in Swift, makes the hashed text exactly what PostgreSQL renders for the stored jsonb.

CREATE TABLE event_log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO event_log_head (singleton, position, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE events (
    position bigint PRIMARY KEY,
    stream_id text NOT NULL,
    stream_version bigint NOT NULL,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    hash bytea NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_stream_prefix_idx ON events (stream_id text_pattern_ops, position);
CREATE INDEX events_type_idx ON events (event_type, position);
CREATE INDEX events_recorded_at_idx ON events (recorded_at);

-- The text a row's hash covers. Timestamps as epoch microseconds so the session's TimeZone and
-- DateStyle cannot change it; jsonb renders canonically (sorted keys, no insignificant space).
CREATE FUNCTION streamd_event_canonical(
    p_position bigint, p_stream_id text, p_stream_version bigint, p_event_id uuid, p_event_type text,
    p_schema_version integer, p_data jsonb, p_metadata jsonb, p_recorded_at timestamptz
) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT convert_to(concat_ws(E'\x1f',
        p_position::text, p_stream_id, p_stream_version::text, p_event_id::text, p_event_type,
        p_schema_version::text, p_data::text, p_metadata::text,
        (extract(epoch FROM p_recorded_at) * 1000000)::bigint::text), 'UTF8')
$$;

-- Appends rows that the caller has already checked (versions, idempotency) while holding the
-- head's lock (`SELECT ... FOR UPDATE` earlier in the same transaction). Returns the first position.
CREATE FUNCTION streamd_insert_events(
    p_stream_ids text[], p_versions bigint[], p_event_ids uuid[], p_types text[],
    p_schema_versions integer[], p_data jsonb[], p_metadata jsonb[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    head_position bigint;
    head_hash bytea;
    n integer := coalesce(array_length(p_stream_ids, 1), 0);
    hashes bytea[] := '{}';
    now_ts timestamptz := clock_timestamp();
    i integer;
BEGIN
    SELECT position, hash INTO head_position, head_hash FROM event_log_head FOR UPDATE;
    IF n = 0 THEN
        RETURN head_position + 1;
    END IF;
    FOR i IN 1..n LOOP
        head_hash := sha256(head_hash || streamd_event_canonical(
            head_position + i, p_stream_ids[i], p_versions[i], p_event_ids[i], p_types[i],
            p_schema_versions[i], p_data[i], p_metadata[i], now_ts));
        hashes := array_append(hashes, head_hash);
    END LOOP;
    INSERT INTO events (position, stream_id, stream_version, event_id, event_type, schema_version,
                        data, metadata, recorded_at, hash)
    SELECT head_position + t.ord, t.stream_id, t.version, t.event_id, t.event_type, t.schema_version,
           t.data, t.metadata, now_ts, t.hash
    FROM unnest(p_stream_ids, p_versions, p_event_ids, p_types, p_schema_versions, p_data, p_metadata, hashes)
         WITH ORDINALITY AS t(stream_id, version, event_id, event_type, schema_version, data, metadata, hash, ord);
    UPDATE event_log_head SET position = head_position + n, hash = head_hash;
    PERFORM pg_notify('streamd_events', (head_position + n)::text);
    RETURN head_position + 1;
END
$$;

-- The log is append-only: the database itself refuses edits and deletions.
CREATE FUNCTION streamd_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
        USING HINT = 'append a correcting event instead';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION streamd_refuse_event_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION streamd_refuse_event_change();

-- Read models' positions, updated in the same transaction as the model (exactly once).
CREATE TABLE projection_checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
