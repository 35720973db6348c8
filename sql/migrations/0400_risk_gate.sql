-- Risk decisions: one per gated payout (release or refund).
CREATE TABLE risk_decisions (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	operation TEXT NOT NULL,
	subject_type TEXT NOT NULL,
	subject_id UUID NOT NULL,
	escrow_id UUID,
	amount NUMERIC NOT NULL,
	currency TEXT NOT NULL,
	outcome TEXT NOT NULL CHECK (outcome IN ('approve', 'review', 'step_up', 'block')),
	score INT8 NOT NULL CHECK (score BETWEEN 0 AND 100),
	reasons JSONB NOT NULL,
	rules_version INT8 NOT NULL,
	features JSONB NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX risk_decisions_subject ON risk_decisions (tenant_id, subject_id);

CREATE INDEX risk_decisions_tenant_created ON risk_decisions (tenant_id, created_at);

-- Frozen parties (LOCK): every payout to or from them is blocked.
CREATE TABLE party_freezes (
	tenant_id UUID NOT NULL,
	party_id TEXT NOT NULL,
	reason TEXT NOT NULL,
	frozen_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, party_id)
);
