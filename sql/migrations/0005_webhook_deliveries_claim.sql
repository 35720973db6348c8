-- The token of the worker that claimed a delivery: only that worker may
-- record its outcome, so a worker whose lease ran out, and whose delivery
-- another worker claimed since, cannot overwrite the newer result.
ALTER TABLE webhook_deliveries ADD COLUMN claim UUID;
