-- A read model's transaction began with three round trips before its first row: turning off the
-- commit's WAL flush wait, creating its checkpoint row if missing, and locking that row. At chat
-- rates that was most of what PostgreSQL executed (seven statements per page of one or two
-- events). This function does all three in one.
--
-- The row lock serializes every runner of a projection, in any process: events at or below the
-- returned checkpoint were applied by another. `synchronous_commit` is set for the rest of the
-- calling transaction only (a read model is rebuilt from the durable log, and its checkpoint
-- commits with it, so a crash loses both together and the events are applied again).
CREATE FUNCTION streamd_projection_claim(projection text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    claimed bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT position INTO claimed FROM projection_checkpoints WHERE name = projection FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO projection_checkpoints (name, position) VALUES (projection, 0) ON CONFLICT (name) DO NOTHING;
        SELECT position INTO claimed FROM projection_checkpoints WHERE name = projection FOR UPDATE;
    END IF;
    RETURN claimed;
END
$$;
