-- Proofs (docs/architecture.md, "Proofs: Merkle tree and signed checkpoints"): an RFC 6962 Merkle
-- tree over the log in position order, kept by the integrator (Sources/EventStore/Proofs), which
-- hashes the rows in Swift. Only complete subtrees are stored: node (level, idx) covers leaves
-- [idx * 2^level, (idx + 1) * 2^level), leaf i being the event at position i + 1. Any root or
-- proof at any size is a fold of O(log n) of them. Appends never touch these tables.

CREATE TABLE merkle_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- How many leaves the stored tree has; the integrator locks it while it adds nodes, so two
-- integrators (a node and `events checkpoint`) never add the same leaves twice.
CREATE TABLE merkle_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size bigint NOT NULL
);
INSERT INTO merkle_head (singleton, size) VALUES (true, 0);

-- Signed checkpoints (C2SP tlog-checkpoint notes). Their signatures are the anchor: someone who
-- rewrites the tables cannot sign a new root without the key, which is not in the database.
CREATE TABLE merkle_checkpoints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size bigint NOT NULL,
    root bytea NOT NULL,
    made_at timestamptz NOT NULL,
    note text NOT NULL
);
CREATE INDEX merkle_checkpoints_size_idx ON merkle_checkpoints (size);

-- Nodes and checkpoints are written once.
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION streamd_refuse_event_change();
CREATE TRIGGER merkle_checkpoints_append_only BEFORE UPDATE OR DELETE ON merkle_checkpoints
    FOR EACH ROW EXECUTE FUNCTION streamd_refuse_event_change();
