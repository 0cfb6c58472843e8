-- Webhooks (docs/api.md#webhooks): subscriptions are events (stream `webhook-ID`); what must not
-- be in the log forever lives here. Each subscription's delivery position is its row in
-- projection_checkpoints (`webhook:ID`): the log is the outbox.

-- Signing secrets, newest last; rotating adds one.
CREATE TABLE webhook_secrets (
    webhook_id uuid NOT NULL,
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, created_at)
);

-- Recent delivery attempts, for GET /v1/webhooks/ID (the dispatcher keeps the last 200 each).
CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id uuid NOT NULL,
    position bigint NOT NULL,
    event_type text NOT NULL,
    attempt integer NOT NULL,
    status integer,
    error text,
    duration_ms double precision NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id DESC);
