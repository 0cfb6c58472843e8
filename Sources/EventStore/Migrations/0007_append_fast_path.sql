-- Cheaper appends: the batch function's cost per event was mostly the hash chain (a SQL function
-- per row for the canonical text, a SQL aggregate step per row for SHA-256), jsonb's parse and
-- re-render, and six indexes.
--
-- 1. `data` and `metadata` become `json`: the text is kept as sent, so storing skips jsonb's
--    binary conversion and reading skips rendering it back. The hash chain stays valid, because
--    the canonical text of a row is its JSON's text and casting jsonb to json keeps exactly the
--    text jsonb rendered (what every existing hash covers).
-- 2. The group committer computes the chain itself when it knows where the log's head will be
--    and each stream's version (it learns them from its own appends): it sends the hashes with the
--    head they assume, and the function stores them only if, under the head's lock, the head and
--    every stream's version are as assumed and every request is accepted. Otherwise it computes
--    the chain here, as before but in one loop. Either way each hash covers the stored row, which
--    `streamd events verify` recomputes independently.
-- 3. `stream_id` collates "C", so its unique index also serves prefix filters (LIKE 'p%') and
--    the separate prefix index goes; `recorded_at`, which grows with position, gets a BRIN index
--    instead of a B-tree.

DROP FUNCTION streamd_append_batch(text[], integer[], bigint[], integer[], integer[], uuid[], text[], integer[], jsonb[], jsonb[]);

ALTER TABLE events
    ALTER COLUMN data TYPE json USING data::json,
    ALTER COLUMN metadata TYPE json USING metadata::json,
    ALTER COLUMN stream_id TYPE text COLLATE "C";
DROP INDEX events_stream_prefix_idx;
DROP INDEX events_recorded_at_idx;
CREATE INDEX events_recorded_at_idx ON events USING brin (recorded_at);

DROP FUNCTION streamd_event_canonical(bigint, text, bigint, uuid, text, integer, jsonb, jsonb, timestamptz);
-- Unchanged text (see 0001): the Swift committer builds the same bytes (`HashChain.canonical`).
CREATE FUNCTION streamd_event_canonical(
    p_position bigint, p_stream_id text, p_stream_version bigint, p_event_id uuid, p_event_type text,
    p_schema_version integer, p_data json, p_metadata json, p_recorded_at timestamptz
) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT convert_to(concat_ws(E'\x1f',
        p_position::text, p_stream_id, p_stream_version::text, p_event_id::text, p_event_type,
        p_schema_version::text, p_data::text, p_metadata::text,
        (extract(epoch FROM p_recorded_at) * 1000000)::bigint::text), 'UTF8')
$$;

-- As 0003 (the outcomes and their meaning are unchanged), plus:
--   p_head_position, p_head_hash  the head the caller's hashes start from
--   r_assumed     per request: the stream's version before it, as the caller assumed (-1: unknown)
--   e_hashes      per event: the caller's chain, or NULL to have it computed here
--   p_recorded_us the batch's recorded time, microseconds since 1970 (the caller hashed this value)
-- and a last row (request -1, outcome 'head') with the head after the batch: first_position is
-- its position, head_hash its hash, detail 'hashes taken' when the caller's hashes were stored.
CREATE FUNCTION streamd_append_batch(
    p_head_position bigint, p_head_hash bytea, p_recorded_us bigint,
    s_streams text[], r_stream_idx integer[], r_expected bigint[], r_assumed bigint[], r_counts integer[],
    e_req integer[], e_ids uuid[], e_types text[], e_schemas integer[], e_data json[], e_metadata json[],
    e_hashes bytea[]
) RETURNS TABLE (request integer, outcome text, first_position bigint, stream_version bigint,
                 actual_version bigint, existing_positions bigint[], detail text, head_hash bytea)
-- plpgsql keeps a connection's plans, and a plan made while `events` was nearly empty scans it
-- whole (seen: an id lookup planned as a hash join over a sequential scan took 250 ms per batch at
-- 60k events). Every lookup here has an index; make the planner use it whatever its statistics.
-- (Disabled scans cost so much on paper that JIT would compile every statement: not here.)
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
DECLARE
    head_position bigint;
    chain bytea;
    pos bigint;
    -- Exact: whole seconds and microseconds as separate integer intervals.
    now_ts timestamptz := timestamptz '1970-01-01 00:00:00+00'
        + (p_recorded_us / 1000000) * interval '1 second' + (p_recorded_us % 1000000) * interval '1 microsecond';
    recorded_text text := p_recorded_us::text;
    n integer := coalesce(array_length(r_counts, 1), 0);
    versions bigint[];
    accepted_first bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    accepted_base bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    request_offset integer[] := array_fill(0, ARRAY[n]);
    known_count integer[] := array_fill(0, ARRAY[n]);
    known record;
    known_by_request jsonb := '{}';
    offs integer := 0;
    cur bigint;
    r integer;
    as_assumed boolean;
    hashes bytea[];
    n_events integer := coalesce(array_length(e_ids, 1), 0);
    positions bigint[];
    stream_versions bigint[];
    k integer;
BEGIN
    SELECT h.position, h.hash INTO head_position, chain FROM event_log_head h FOR UPDATE;
    pos := head_position;
    as_assumed := e_hashes IS NOT NULL AND head_position = p_head_position AND chain = p_head_hash;
    head_hash := NULL;

    SELECT array_agg(coalesce((SELECT max(e.stream_version) FROM events e WHERE e.stream_id = s.name), 0) ORDER BY s.ord)
      INTO versions FROM unnest(s_streams) WITH ORDINALITY AS s(name, ord);

    -- Ids already in the log, grouped by the request that brings them. Usually there are none,
    -- and probing the id index says so without opening the grouping query's cursor.
    IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (e_ids)) THEN
        FOR known IN
            SELECT q.req, count(*) AS cnt, array_agg(e.position ORDER BY e.position) AS positions,
                   array_agg(e.stream_version ORDER BY e.position) AS stream_versions,
                   bool_and(e.stream_id = s_streams[r_stream_idx[q.req]]) AS same_stream, min(e.stream_id) AS some_stream
            FROM unnest(e_ids, e_req) AS q(id, req) JOIN events e ON e.event_id = q.id
            GROUP BY q.req
        LOOP
            known_count[known.req] := known.cnt;
            known_by_request := known_by_request || jsonb_build_object(known.req::text, jsonb_build_object(
                'positions', to_jsonb(known.positions), 'versions', to_jsonb(known.stream_versions),
                'same', known.same_stream, 'stream', known.some_stream));
        END LOOP;
    END IF;

    FOR r IN 1..n LOOP
        request := r - 1;
        first_position := NULL; stream_version := NULL; actual_version := NULL;
        existing_positions := NULL; detail := NULL;
        request_offset[r] := offs;
        IF known_count[r] > 0 THEN
            as_assumed := false;
            DECLARE
                kj jsonb := known_by_request -> r::text;
                kp bigint[] := ARRAY(SELECT jsonb_array_elements_text(kj -> 'positions')::bigint);
                kv bigint[] := ARRAY(SELECT jsonb_array_elements_text(kj -> 'versions')::bigint);
            BEGIN
                IF known_count[r] = r_counts[r] AND (kj ->> 'same')::boolean
                   AND kv[r_counts[r]] - kv[1] = r_counts[r] - 1 AND kp[r_counts[r]] - kp[1] = r_counts[r] - 1 THEN
                    outcome := 'duplicate';
                    existing_positions := kp;
                    stream_version := kv[r_counts[r]];
                ELSE
                    outcome := 'id_conflict';
                    detail := format('stored at position %s in %s', kp[1], kj ->> 'stream');
                END IF;
            END;
        ELSE
            cur := versions[r_stream_idx[r]];
            IF r_expected[r] >= 0 AND r_expected[r] <> cur THEN
                as_assumed := false;
                outcome := 'conflict';
                actual_version := cur;
            ELSE
                IF r_assumed[r] <> cur THEN as_assumed := false; END IF;
                outcome := 'ok';
                first_position := pos + 1;
                accepted_first[r] := pos + 1;
                accepted_base[r] := cur;
                pos := pos + r_counts[r];
                stream_version := cur + r_counts[r];
                versions[r_stream_idx[r]] := cur + r_counts[r];
            END IF;
        END IF;
        offs := offs + r_counts[r];
        RETURN NEXT;
    END LOOP;

    IF pos > head_position THEN
        IF as_assumed THEN
            -- Every request accepted where the caller assumed: its hashes cover these rows.
            hashes := e_hashes;
            chain := e_hashes[n_events];
        ELSE
            -- Only accepted requests' events, in order, with their positions and versions.
            SELECT array_agg(accepted_first[t.req] + (t.ord - 1 - request_offset[t.req]) ORDER BY t.ord),
                   array_agg(accepted_base[t.req] + (t.ord - request_offset[t.req]) ORDER BY t.ord)
              INTO positions, stream_versions
              FROM unnest(e_req) WITH ORDINALITY AS t(req, ord);
            hashes := array_fill(NULL::bytea, ARRAY[n_events]);
            FOR k IN 1..n_events LOOP
                CONTINUE WHEN accepted_first[e_req[k]] IS NULL;
                chain := sha256(chain || convert_to(concat_ws(E'\x1f',
                    positions[k]::text, s_streams[r_stream_idx[e_req[k]]], stream_versions[k]::text, e_ids[k]::text,
                    e_types[k], e_schemas[k]::text, e_data[k]::text, e_metadata[k]::text, recorded_text), 'UTF8'));
                hashes[k] := chain;
            END LOOP;
        END IF;
        INSERT INTO events (position, stream_id, stream_version, event_id, event_type, schema_version,
                            data, metadata, recorded_at, hash)
        SELECT accepted_first[t.req] + (t.ord - 1 - request_offset[t.req]),
               s_streams[r_stream_idx[t.req]],
               accepted_base[t.req] + (t.ord - request_offset[t.req]),
               t.id, t.type, t.schema, t.data, t.metadata, now_ts, t.hash
        FROM unnest(e_req, e_ids, e_types, e_schemas, e_data, e_metadata, hashes)
             WITH ORDINALITY AS t(req, id, type, schema, data, metadata, hash, ord)
        WHERE accepted_first[t.req] IS NOT NULL;
        UPDATE event_log_head SET position = pos, hash = chain;
        PERFORM pg_notify('streamd_events', pos::text);
    END IF;

    request := -1; outcome := 'head'; first_position := pos; head_hash := chain;
    stream_version := NULL; actual_version := NULL; existing_positions := NULL;
    detail := CASE WHEN pos > head_position AND as_assumed THEN 'hashes taken' END;
    RETURN NEXT;
END
$$;
