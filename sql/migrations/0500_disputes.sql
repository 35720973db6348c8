-- Per-tenant dispute policy. escrow.Create copies it onto each new escrow
-- (escrows.policy), so later changes do not move running deadlines.
CREATE TABLE disputes_policies (
	tenant_id UUID PRIMARY KEY,
	seller_response_hours INT8 NOT NULL CHECK (seller_response_hours BETWEEN 1 AND 2160),
	escalation_hours INT8 NOT NULL CHECK (escalation_hours BETWEEN 1 AND 2160),
	evidence_hours INT8 NOT NULL CHECK (evidence_hours BETWEEN 1 AND 2160),
	updated_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT disputes_policies_order CHECK (seller_response_hours <= escalation_hours)
);

-- Buyer claims on an escrow. At most one open (negotiating or under_review)
-- per escrow: the partial unique index below.
CREATE TABLE disputes (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	escrow_id UUID NOT NULL REFERENCES escrows (id),
	status TEXT NOT NULL CHECK (status IN ('negotiating', 'under_review', 'resolved', 'withdrawn')),
	reason TEXT NOT NULL CHECK (reason IN ('not_received', 'not_as_described', 'damaged', 'late_shipment', 'quality', 'other')),
	claimed_amount NUMERIC NOT NULL CHECK (claimed_amount > 0),
	currency TEXT NOT NULL,
	description TEXT NOT NULL,
	assignee TEXT,
	evidence_hours INT8 NOT NULL CHECK (evidence_hours > 0),
	seller_response_due_at TIMESTAMPTZ NOT NULL,
	escalation_due_at TIMESTAMPTZ NOT NULL,
	evidence_due_at TIMESTAMPTZ NOT NULL,
	-- the next deadline of an open dispute; far in the future once closed, so
	-- the agents' queue sorts on one NOT NULL column
	next_deadline_at TIMESTAMPTZ NOT NULL,
	seller_responded_at TIMESTAMPTZ,
	escalated_at TIMESTAMPTZ,
	escalated_by TEXT,
	outcome TEXT CHECK (outcome IN ('refund_full', 'refund_partial', 'release_full')),
	refund_amount NUMERIC CHECK (refund_amount >= 0),
	covered_amount NUMERIC NOT NULL DEFAULT 0 CHECK (covered_amount >= 0),
	recovered_amount NUMERIC NOT NULL DEFAULT 0 CHECK (recovered_amount >= 0),
	receivable_amount NUMERIC NOT NULL DEFAULT 0 CHECK (receivable_amount >= 0),
	capped BOOL NOT NULL DEFAULT false,
	rationale TEXT NOT NULL DEFAULT '',
	resolved_by TEXT,
	accepted_offer_id UUID,
	refund_payout_id UUID,
	release_payout_id UUID,
	resolved_at TIMESTAMPTZ,
	withdrawn_at TIMESTAMPTZ,
	version INT8 NOT NULL DEFAULT 1,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT disputes_resolved_has_outcome CHECK ((status = 'resolved') = (outcome IS NOT NULL))
);

CREATE UNIQUE INDEX disputes_one_open ON disputes (escrow_id) WHERE status IN ('negotiating', 'under_review');

CREATE INDEX disputes_queue ON disputes (tenant_id, next_deadline_at, id);

CREATE INDEX disputes_escrow ON disputes (escrow_id, created_at);

-- Settlement offers between buyer and seller. At most one accepted per
-- dispute.
CREATE TABLE dispute_offers (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	dispute_id UUID NOT NULL REFERENCES disputes (id),
	by_party TEXT NOT NULL CHECK (by_party IN ('buyer', 'seller')),
	refund_amount NUMERIC NOT NULL CHECK (refund_amount >= 0),
	note TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'rejected', 'superseded')),
	created_at TIMESTAMPTZ NOT NULL,
	decided_at TIMESTAMPTZ
);

CREATE INDEX dispute_offers_dispute ON dispute_offers (dispute_id, created_at);

CREATE UNIQUE INDEX dispute_offers_one_accepted ON dispute_offers (dispute_id) WHERE status = 'accepted';

-- Chargebacks: card-network disputes the marketplace's PSP reports.
CREATE TABLE chargebacks (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	escrow_id UUID NOT NULL REFERENCES escrows (id),
	status TEXT NOT NULL CHECK (status IN ('needs_response', 'under_review', 'won', 'lost')),
	amount NUMERIC NOT NULL CHECK (amount > 0),
	currency TEXT NOT NULL,
	psp_ref TEXT NOT NULL,
	reason TEXT NOT NULL,
	respond_by TIMESTAMPTZ NOT NULL,
	-- how the amount was covered: from the escrow account, clawed back from
	-- the seller's payable, and the shortfall (loss), of which the seller owes
	-- receivable_amount
	from_held NUMERIC NOT NULL CHECK (from_held >= 0),
	clawed_back NUMERIC NOT NULL CHECK (clawed_back >= 0),
	loss_amount NUMERIC NOT NULL CHECK (loss_amount >= 0),
	receivable_amount NUMERIC NOT NULL CHECK (receivable_amount >= 0 AND receivable_amount <= loss_amount),
	payout_id UUID,
	-- the ledger entries posted, in order; a won chargeback reverses them
	entry_ids JSONB NOT NULL DEFAULT '[]',
	version INT8 NOT NULL DEFAULT 1,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	decided_at TIMESTAMPTZ,
	CONSTRAINT chargebacks_psp_ref UNIQUE (tenant_id, psp_ref),
	CONSTRAINT chargebacks_parts CHECK (from_held + clawed_back + loss_amount = amount)
);

CREATE INDEX chargebacks_escrow ON chargebacks (escrow_id, created_at);

-- Evidence metadata of a dispute or a chargeback. Rows are never updated or
-- deleted (nothing in escrowd writes them after the insert).
CREATE TABLE dispute_evidence (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	dispute_id UUID REFERENCES disputes (id),
	chargeback_id UUID REFERENCES chargebacks (id),
	party TEXT NOT NULL CHECK (party IN ('buyer', 'seller')),
	kind TEXT NOT NULL CHECK (kind IN ('photo', 'tracking', 'document', 'message', 'inspection_report')),
	description TEXT NOT NULL,
	uri TEXT NOT NULL,
	sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
	created_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT dispute_evidence_one_subject CHECK ((dispute_id IS NULL) <> (chargeback_id IS NULL))
);

CREATE INDEX dispute_evidence_dispute ON dispute_evidence (dispute_id, created_at);

CREATE INDEX dispute_evidence_chargeback ON dispute_evidence (chargeback_id, created_at);

-- A chargeback that is won reverses its money movements; the payout that
-- took held money from the escrow account is then marked reversed. The
-- inline CHECK of 0300 has a different name on each database.
ALTER TABLE escrow_payouts DROP CONSTRAINT IF EXISTS escrow_payouts_status_check;

ALTER TABLE escrow_payouts DROP CONSTRAINT IF EXISTS check_status;

ALTER TABLE escrow_payouts ADD CONSTRAINT escrow_payouts_status CHECK (status IN ('completed', 'pending_review', 'awaiting_confirmation', 'rejected', 'blocked', 'reversed'));
