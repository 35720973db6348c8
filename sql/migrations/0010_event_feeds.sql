-- The last place given in each tenant's feed: the row every placing
-- transaction of the tenant updates, so they take turns.
CREATE TABLE event_feeds (
	tenant_id UUID PRIMARY KEY,
	last_seq INT8 NOT NULL CHECK (last_seq >= 0)
);
