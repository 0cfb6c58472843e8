-- Lookups by correlation and causation id (`streamd events trace`, `events list --correlation`):
-- without them each step of a trace scans the whole log. Partial, so events without the id cost
-- nothing; upper() because the filters compare upper-cased text (Swift writes UUIDs upper-case).

CREATE INDEX events_correlation_idx ON events (upper(metadata->>'correlationId'))
    WHERE metadata->>'correlationId' IS NOT NULL;
CREATE INDEX events_causation_idx ON events (upper(metadata->>'causationId'))
    WHERE metadata->>'causationId' IS NOT NULL;
