-- Tenants (marketplaces), their API keys and the audit trail.
CREATE TABLE tenants (
	id UUID PRIMARY KEY,
	name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL REFERENCES tenants (id),
	role TEXT NOT NULL CHECK (role IN ('marketplace', 'dispute_agent', 'risk_reviewer', 'finance', 'admin')),
	lookup TEXT NOT NULL,
	key_hash BYTEA NOT NULL,
	label TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL,
	revoked_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX api_keys_lookup ON api_keys (lookup);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE audit_log (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	key_id UUID,
	role TEXT NOT NULL,
	method TEXT NOT NULL,
	route TEXT NOT NULL,
	resource_id TEXT NOT NULL DEFAULT '',
	status INT8 NOT NULL,
	outcome TEXT NOT NULL,
	request_id TEXT NOT NULL DEFAULT '',
	at TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);

-- Idempotency keys: the response of a state-changing POST, stored in the
-- same transaction as the change.
CREATE TABLE idempotency_keys (
	tenant_id UUID NOT NULL,
	key TEXT NOT NULL,
	request_hash BYTEA NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
	owner UUID NOT NULL,
	locked_until TIMESTAMPTZ NOT NULL,
	response_status INT8,
	response_body BYTEA,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Outbox: events written in the same transaction as the change.
CREATE TABLE events (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	type TEXT NOT NULL,
	subject_id TEXT NOT NULL,
	payload JSONB NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX events_tenant_id ON events (tenant_id, id);

CREATE INDEX events_tenant_type_id ON events (tenant_id, type, id);

CREATE TABLE webhook_endpoints (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL REFERENCES tenants (id),
	url TEXT NOT NULL,
	event_types TEXT[] NOT NULL,
	secret TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	disabled_at TIMESTAMPTZ
);

CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

CREATE TABLE webhook_deliveries (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	endpoint_id UUID NOT NULL REFERENCES webhook_endpoints (id),
	event_id UUID NOT NULL REFERENCES events (id),
	status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts INT8 NOT NULL DEFAULT 0,
	next_attempt_at TIMESTAMPTZ NOT NULL,
	locked_until TIMESTAMPTZ,
	last_status INT8,
	last_error TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL,
	delivered_at TIMESTAMPTZ,
	UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, event_id);

-- Background jobs, claimed with FOR UPDATE SKIP LOCKED by any instance.
CREATE TABLE jobs (
	id UUID PRIMARY KEY,
	tenant_id UUID,
	kind TEXT NOT NULL,
	dedupe_key TEXT,
	payload JSONB NOT NULL,
	run_at TIMESTAMPTZ NOT NULL,
	attempts INT8 NOT NULL DEFAULT 0,
	max_attempts INT8 NOT NULL DEFAULT 20,
	locked_until TIMESTAMPTZ,
	last_error TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'cancelled')),
	created_at TIMESTAMPTZ NOT NULL,
	finished_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX jobs_dedupe ON jobs (kind, dedupe_key);

CREATE INDEX jobs_due ON jobs (status, run_at);
