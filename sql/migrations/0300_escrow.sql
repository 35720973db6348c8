-- Escrow agreements, one per marketplace order.
CREATE TABLE escrows (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	order_ref TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('awaiting_funding', 'funded', 'shipped', 'delivered', 'completed', 'cancelled', 'expired', 'refunded', 'disputed')),
	-- the state to go back to when a dispute ends without settling the escrow
	state_before_dispute TEXT,
	buyer JSONB NOT NULL,
	seller JSONB NOT NULL,
	buyer_id TEXT NOT NULL,
	seller_id TEXT NOT NULL,
	currency TEXT NOT NULL,
	amount NUMERIC NOT NULL CHECK (amount > 0),
	fee_total NUMERIC NOT NULL CHECK (fee_total >= 0),
	buyer_fee NUMERIC NOT NULL CHECK (buyer_fee >= 0 AND buyer_fee <= fee_total),
	funded_amount NUMERIC NOT NULL DEFAULT 0 CHECK (funded_amount >= 0 AND funded_amount <= amount + buyer_fee),
	released_amount NUMERIC NOT NULL DEFAULT 0 CHECK (released_amount >= 0),
	refunded_amount NUMERIC NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
	pending_amount NUMERIC NOT NULL DEFAULT 0 CHECK (pending_amount >= 0),
	fee_collected NUMERIC NOT NULL DEFAULT 0 CHECK (fee_collected >= 0),
	terms JSONB NOT NULL,
	fees JSONB NOT NULL,
	policy JSONB NOT NULL DEFAULT '{}',
	risk_context JSONB NOT NULL DEFAULT '{}',
	metadata JSONB NOT NULL DEFAULT '{}',
	shipment JSONB,
	ledger_account_id UUID NOT NULL,
	version INT8 NOT NULL DEFAULT 1,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	funding_deadline_at TIMESTAMPTZ NOT NULL,
	funded_at TIMESTAMPTZ,
	shipped_at TIMESTAMPTZ,
	delivered_at TIMESTAMPTZ,
	inspection_ends_at TIMESTAMPTZ,
	closed_at TIMESTAMPTZ,
	CONSTRAINT escrows_money_out_le_in CHECK (released_amount + refunded_amount + pending_amount <= funded_amount),
	CONSTRAINT escrows_order_ref UNIQUE (tenant_id, order_ref)
);

CREATE INDEX escrows_tenant_id ON escrows (tenant_id, id);

CREATE INDEX escrows_tenant_state ON escrows (tenant_id, state, id);

CREATE INDEX escrows_tenant_seller ON escrows (tenant_id, seller_id, id);

CREATE INDEX escrows_tenant_buyer ON escrows (tenant_id, buyer_id, id);

-- Milestones: order money in parts. Amounts are order money (before fees).
CREATE TABLE escrow_milestones (
	escrow_id UUID NOT NULL REFERENCES escrows (id),
	idx INT8 NOT NULL,
	name TEXT NOT NULL,
	amount NUMERIC NOT NULL CHECK (amount > 0),
	released NUMERIC NOT NULL DEFAULT 0 CHECK (released >= 0),
	refunded NUMERIC NOT NULL DEFAULT 0 CHECK (refunded >= 0),
	pending NUMERIC NOT NULL DEFAULT 0 CHECK (pending >= 0),
	PRIMARY KEY (escrow_id, idx),
	CONSTRAINT escrow_milestones_within CHECK (released + refunded + pending <= amount)
);

-- Money captured for an escrow (one row per PSP payment).
CREATE TABLE escrow_fundings (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	escrow_id UUID NOT NULL REFERENCES escrows (id),
	payment_ref TEXT NOT NULL,
	amount NUMERIC NOT NULL CHECK (amount > 0),
	currency TEXT NOT NULL,
	credited NUMERIC NOT NULL CHECK (credited > 0),
	fx_quote_id UUID,
	entry_id UUID NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT escrow_fundings_payment_ref UNIQUE (tenant_id, payment_ref)
);

CREATE INDEX escrow_fundings_escrow ON escrow_fundings (escrow_id, created_at);

-- Payouts: releases to the seller and refunds to the buyer. Each passed the
-- risk gate; pending ones hold a pending ledger entry.
CREATE TABLE escrow_payouts (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	escrow_id UUID NOT NULL REFERENCES escrows (id),
	kind TEXT NOT NULL CHECK (kind IN ('release', 'refund')),
	trigger TEXT NOT NULL,
	milestone_idx INT8,
	order_amount NUMERIC NOT NULL CHECK (order_amount >= 0),
	-- how order_amount is spread over milestones: [{"idx": 0, "amount": "10.00"}]
	allocation JSONB NOT NULL DEFAULT '[]',
	gross NUMERIC NOT NULL CHECK (gross > 0),
	fee NUMERIC NOT NULL CHECK (fee >= 0),
	buyer_fee_part NUMERIC NOT NULL DEFAULT 0,
	seller_fee_part NUMERIC NOT NULL DEFAULT 0,
	net NUMERIC NOT NULL CHECK (net >= 0),
	status TEXT NOT NULL CHECK (status IN ('completed', 'pending_review', 'awaiting_confirmation', 'rejected', 'blocked')),
	reason TEXT NOT NULL DEFAULT '',
	decision_id UUID,
	review_id UUID,
	entry_id UUID,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX escrow_payouts_escrow ON escrow_payouts (escrow_id, created_at);

CREATE INDEX escrow_payouts_tenant ON escrow_payouts (tenant_id, id);
