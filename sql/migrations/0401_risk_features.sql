-- Parties on each decision (release velocity per seller) and the review a
-- decision opened.
ALTER TABLE risk_decisions ADD COLUMN buyer_id TEXT NOT NULL DEFAULT '';

ALTER TABLE risk_decisions ADD COLUMN seller_id TEXT NOT NULL DEFAULT '';

ALTER TABLE risk_decisions ADD COLUMN review_id UUID;

CREATE INDEX risk_decisions_seller ON risk_decisions (tenant_id, seller_id, operation, created_at);

-- What risk observed of each escrow when it was created (risk.Observe) and
-- whether it was disputed (risk.ObserveDispute). The gate's features are
-- computed from these rows only. The secondary indexes carry every column
-- the feature queries read, so those queries scan the index alone.
CREATE TABLE risk_observations (
	tenant_id UUID NOT NULL,
	escrow_id UUID NOT NULL,
	buyer_id TEXT NOT NULL,
	seller_id TEXT NOT NULL,
	device_id TEXT NOT NULL DEFAULT '',
	ip TEXT NOT NULL DEFAULT '',
	amount NUMERIC NOT NULL,
	currency TEXT NOT NULL,
	amount_usd NUMERIC,
	observed_at TIMESTAMPTZ NOT NULL,
	disputed_at TIMESTAMPTZ,
	PRIMARY KEY (tenant_id, escrow_id)
);

CREATE INDEX risk_observations_buyer ON risk_observations (tenant_id, buyer_id, observed_at, amount_usd, escrow_id);

CREATE INDEX risk_observations_seller ON risk_observations (tenant_id, seller_id, observed_at, amount_usd, disputed_at, escrow_id);

CREATE INDEX risk_observations_device ON risk_observations (tenant_id, device_id, observed_at, amount_usd);

-- Rule sets per tenant. Version 1 is the shipped default (risk.DefaultRules),
-- so a tenant's own versions start at 2. Rows are never changed.
CREATE TABLE risk_rule_sets (
	tenant_id UUID NOT NULL,
	version INT8 NOT NULL CHECK (version >= 2),
	rules JSONB NOT NULL,
	review_threshold INT8 NOT NULL CHECK (review_threshold BETWEEN 1 AND 100),
	block_threshold INT8 NOT NULL CHECK (block_threshold BETWEEN 1 AND 100),
	created_at TIMESTAMPTZ NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, version)
);

-- Sanctions lists loaded per tenant; the newest (highest id) is current.
CREATE TABLE sanctions_lists (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	source TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	entries INT8 NOT NULL CHECK (entries > 0),
	loaded_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX sanctions_lists_tenant ON sanctions_lists (tenant_id, id);

-- The entries of a tenant's current list, as in the file; aliases are read
-- again from remarks when the list is loaded into memory.
CREATE TABLE sanctions_entries (
	tenant_id UUID NOT NULL,
	list_id UUID NOT NULL,
	ent_num INT8 NOT NULL,
	name TEXT NOT NULL,
	entry_type TEXT NOT NULL,
	programs TEXT NOT NULL,
	remarks TEXT NOT NULL,
	PRIMARY KEY (tenant_id, list_id, ent_num)
);

-- Every screening of a party's name, at escrow creation and at payouts.
CREATE TABLE risk_screenings (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	subject_type TEXT NOT NULL,
	subject_id UUID NOT NULL,
	escrow_id UUID,
	decision_id UUID,
	party TEXT NOT NULL CHECK (party IN ('buyer', 'seller')),
	party_id TEXT NOT NULL,
	name TEXT NOT NULL,
	list_id UUID,
	matched BOOL NOT NULL,
	matches JSONB NOT NULL,
	screened_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX risk_screenings_subject ON risk_screenings (tenant_id, subject_id);

-- The review queue.
CREATE TABLE risk_reviews (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	subject_type TEXT NOT NULL,
	subject_id UUID NOT NULL,
	escrow_id UUID,
	status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
	reasons JSONB NOT NULL,
	decision_id UUID,
	matched_entry JSONB,
	note TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	decided_at TIMESTAMPTZ,
	decided_by TEXT NOT NULL DEFAULT '',
	CHECK ((status = 'pending') = (decided_at IS NULL))
);

CREATE INDEX risk_reviews_tenant_status ON risk_reviews (tenant_id, status, id);

CREATE INDEX risk_reviews_tenant_id ON risk_reviews (tenant_id, id);

CREATE INDEX risk_reviews_subject ON risk_reviews (tenant_id, subject_id);

-- Step-up challenges: one-time codes, stored as SHA-256 of a per-challenge
-- salt and the code. failed_attempts carries over to a resent code.
CREATE TABLE risk_step_ups (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	subject_id UUID NOT NULL,
	escrow_id UUID,
	decision_id UUID,
	salt BYTEA NOT NULL,
	code_hash BYTEA NOT NULL,
	failed_attempts INT8 NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
	status TEXT NOT NULL CHECK (status IN ('open', 'confirmed', 'blocked', 'superseded')),
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	closed_at TIMESTAMPTZ
);

CREATE INDEX risk_step_ups_subject ON risk_step_ups (tenant_id, subject_id, created_at);
