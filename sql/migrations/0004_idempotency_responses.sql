-- The response of a finished idempotent request, inserted (never updated)
-- by the transaction that made the change. It used to be an UPDATE of the
-- key's row in idempotency_keys; under SERIALIZABLE on PostgreSQL that
-- update's read of the primary key page conflicted with every concurrent
-- claim inserted into the same page (one per request), which made most
-- write transactions pivots of a serialization failure. A key is done when
-- its response row exists; rows of idempotency_keys marked 'done' by the
-- earlier code still count. Responses are pruned with their keys (by the
-- key's created_at).
CREATE TABLE idempotency_responses (
	tenant_id UUID NOT NULL,
	key TEXT NOT NULL,
	owner UUID NOT NULL,
	response_status INT8 NOT NULL,
	response_body BYTEA NOT NULL,
	PRIMARY KEY (tenant_id, key)
);
