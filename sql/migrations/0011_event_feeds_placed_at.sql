-- When the tenant's events were last placed: polls place them at most once
-- per outbox.PlaceEvery (NULL: never).
ALTER TABLE event_feeds ADD COLUMN placed_at TIMESTAMPTZ;
