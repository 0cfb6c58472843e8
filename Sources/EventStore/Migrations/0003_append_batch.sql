-- One group-commit batch in one statement, so a batch costs one round trip and the head's lock is
-- held only while the database itself works (measured: five round trips per batch kept the lock
-- idle most of the time). Each append request in the batch is decided on its own, in order:
--   ok            appended; first_position and stream_version say where
--   duplicate     all its event ids are already in the log as one append to this stream: nothing
--                 written, existing_positions are the original ones (an idempotent retry)
--   id_conflict   some of its ids are in the log (or earlier in this batch) as something else
--   conflict      its expected version is not the stream's; actual_version says what it is
-- The checks run after the lock is taken, and each statement of a plpgsql function sees what
-- committed before it began, so they see every earlier append (READ COMMITTED).

DROP FUNCTION streamd_insert_events(text[], bigint[], uuid[], text[], integer[], jsonb[], jsonb[]);

CREATE FUNCTION streamd_append_batch(
    r_streams text[],        -- per request
    r_expected bigint[],     -- per request: -1 any, 0 no stream, n exactly version n
    r_counts integer[],      -- per request: how many of the events below are its
    e_ids uuid[], e_types text[], e_schemas integer[], e_data jsonb[], e_metadata jsonb[]
) RETURNS TABLE (request integer, outcome text, first_position bigint, stream_version bigint,
                 actual_version bigint, existing_positions bigint[], detail text)
LANGUAGE plpgsql AS $$
DECLARE
    head_position bigint;
    head_hash bytea;
    pos bigint;
    now_ts timestamptz := clock_timestamp();
    versions jsonb := '{}';
    batch_ids uuid[] := '{}';
    ins_streams text[] := '{}';
    ins_versions bigint[] := '{}';
    ins_ids uuid[] := '{}';
    ins_types text[] := '{}';
    ins_schemas integer[] := '{}';
    ins_data jsonb[] := '{}';
    ins_metadata jsonb[] := '{}';
    ins_hashes bytea[] := '{}';
    offs integer := 0;
    cnt integer;
    ids uuid[];
    stream text;
    cur bigint;
    known_count integer;
    known_positions bigint[];
    known_versions bigint[];
    known_same_stream boolean;
    known_stream text;
    i integer;
BEGIN
    SELECT h.position, h.hash INTO head_position, head_hash FROM event_log_head h FOR UPDATE;
    pos := head_position;
    FOR r IN 1..coalesce(array_length(r_streams, 1), 0) LOOP
        cnt := r_counts[r];
        ids := e_ids[offs + 1 : offs + cnt];
        stream := r_streams[r];
        request := r - 1;
        first_position := NULL; stream_version := NULL; actual_version := NULL;
        existing_positions := NULL; detail := NULL;
        IF ids && batch_ids THEN
            outcome := 'id_conflict';
            detail := 'its event ids overlap another append in the same batch';
        ELSE
            SELECT count(*), array_agg(e.position ORDER BY e.position), array_agg(e.stream_version ORDER BY e.position),
                   coalesce(bool_and(e.stream_id = stream), true), min(e.stream_id)
              INTO known_count, known_positions, known_versions, known_same_stream, known_stream
              FROM events e WHERE e.event_id = ANY(ids);
            IF known_count = cnt AND known_same_stream
               AND known_versions[cnt] - known_versions[1] = cnt - 1
               AND known_positions[cnt] - known_positions[1] = cnt - 1 THEN
                outcome := 'duplicate';
                existing_positions := known_positions;
                stream_version := known_versions[cnt];
            ELSIF known_count > 0 THEN
                outcome := 'id_conflict';
                detail := format('stored at position %s in %s', known_positions[1], known_stream);
            ELSE
                cur := coalesce((versions ->> stream)::bigint,
                                (SELECT max(e.stream_version) FROM events e WHERE e.stream_id = stream), 0);
                IF r_expected[r] >= 0 AND r_expected[r] <> cur THEN
                    outcome := 'conflict';
                    actual_version := cur;
                ELSE
                    outcome := 'ok';
                    first_position := pos + 1;
                    FOR i IN 1..cnt LOOP
                        pos := pos + 1;
                        head_hash := sha256(head_hash || streamd_event_canonical(
                            pos, stream, cur + i, e_ids[offs + i], e_types[offs + i], e_schemas[offs + i],
                            e_data[offs + i], e_metadata[offs + i], now_ts));
                        ins_streams := array_append(ins_streams, stream);
                        ins_versions := array_append(ins_versions, (cur + i));
                        ins_ids := array_append(ins_ids, e_ids[offs + i]);
                        ins_types := array_append(ins_types, e_types[offs + i]);
                        ins_schemas := array_append(ins_schemas, e_schemas[offs + i]);
                        ins_data := array_append(ins_data, e_data[offs + i]);
                        ins_metadata := array_append(ins_metadata, e_metadata[offs + i]);
                        ins_hashes := array_append(ins_hashes, head_hash);
                    END LOOP;
                    stream_version := cur + cnt;
                    versions := versions || jsonb_build_object(stream, cur + cnt);
                    batch_ids := batch_ids || ids;
                END IF;
            END IF;
        END IF;
        offs := offs + cnt;
        RETURN NEXT;
    END LOOP;
    IF pos > head_position THEN
        INSERT INTO events (position, stream_id, stream_version, event_id, event_type, schema_version,
                            data, metadata, recorded_at, hash)
        SELECT head_position + t.ord, t.stream_id, t.version, t.event_id, t.event_type, t.schema_version,
               t.data, t.metadata, now_ts, t.hash
        FROM unnest(ins_streams, ins_versions, ins_ids, ins_types, ins_schemas, ins_data, ins_metadata, ins_hashes)
             WITH ORDINALITY AS t(stream_id, version, event_id, event_type, schema_version, data, metadata, hash, ord);
        UPDATE event_log_head SET position = pos, hash = head_hash;
        PERFORM pg_notify('streamd_events', pos::text);
    END IF;
END
$$;
