-- Ledger: accounts, balance rows (one per shard), entries, postings, the
-- append-only resolutions of pending entries, and sealed blocks. Posted
-- entries and postings are never updated or deleted; see ledger/doc.go.
CREATE TABLE ledger_accounts (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	code TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 200),
	currency TEXT NOT NULL CHECK (length(currency) = 3),
	kind TEXT NOT NULL CHECK (kind IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
	normal_side TEXT NOT NULL CHECK (normal_side IN ('debit', 'credit')),
	no_overdraft BOOL NOT NULL DEFAULT false,
	overdraft_limit NUMERIC NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
	shards INT8 NOT NULL DEFAULT 1 CHECK (shards BETWEEN 1 AND 256),
	metadata JSONB NOT NULL DEFAULT '{}',
	created_at TIMESTAMPTZ NOT NULL,
	closed_at TIMESTAMPTZ,
	CONSTRAINT ledger_accounts_normal_side CHECK ((kind IN ('asset', 'expense')) = (normal_side = 'debit')),
	CONSTRAINT ledger_accounts_overdraft CHECK (NOT (no_overdraft AND overdraft_limit > 0)),
	CONSTRAINT ledger_accounts_tenant_code UNIQUE (tenant_id, code),
	CONSTRAINT ledger_accounts_tenant_id_currency UNIQUE (tenant_id, id, currency)
);

-- One row per (account, shard). posted is signed on the account's normal
-- side; seq counts the posted postings of the shard; last_at is the time of
-- the last one (posting times are monotonic per shard). floor is set only on
-- single-shard accounts with an overdraft guard, so the database itself
-- refuses an available balance below it.
CREATE TABLE ledger_balances (
	account_id UUID NOT NULL REFERENCES ledger_accounts (id),
	shard INT8 NOT NULL CHECK (shard >= 0 AND shard < 256),
	tenant_id UUID NOT NULL,
	debit_normal BOOL NOT NULL,
	floor NUMERIC,
	posted NUMERIC NOT NULL DEFAULT 0,
	pending_debits NUMERIC NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
	pending_credits NUMERIC NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
	seq INT8 NOT NULL DEFAULT 0 CHECK (seq >= 0),
	last_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (account_id, shard),
	CONSTRAINT ledger_balances_floor CHECK (floor IS NULL OR posted - (CASE WHEN debit_normal THEN pending_credits ELSE pending_debits END) >= floor)
);

-- Entries. status is the status the entry was written with ('posted' or
-- 'pending') and never changes; what became of a pending entry is a row of
-- ledger_pending_resolutions.
CREATE TABLE ledger_entries (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
	description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
	reference TEXT NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
	status TEXT NOT NULL CHECK (status IN ('posted', 'pending')),
	effective_at TIMESTAMPTZ NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	metadata JSONB NOT NULL DEFAULT '{}',
	reverses_id UUID REFERENCES ledger_entries (id),
	pending_id UUID REFERENCES ledger_entries (id),
	expires_at TIMESTAMPTZ,
	posting_count INT8 NOT NULL CHECK (posting_count BETWEEN 2 AND 64),
	CONSTRAINT ledger_entries_tenant_reference UNIQUE (tenant_id, reference),
	CONSTRAINT ledger_entries_tenant_id UNIQUE (tenant_id, id),
	CONSTRAINT ledger_entries_reverses_once UNIQUE (reverses_id),
	CONSTRAINT ledger_entries_pending_once UNIQUE (pending_id),
	CONSTRAINT ledger_entries_expiry CHECK (expires_at IS NULL OR status = 'pending'),
	CONSTRAINT ledger_entries_commit_posted CHECK (pending_id IS NULL OR status = 'posted')
);

CREATE INDEX ledger_entries_seal_order ON ledger_entries (tenant_id, created_at, id);

-- Postings. Pending postings (of a pending entry) carry no running balance
-- and no sequence number; posted ones carry the running balance of their
-- (account, shard) after them and the shard's sequence number.
CREATE TABLE ledger_postings (
	entry_id UUID NOT NULL,
	idx INT8 NOT NULL CHECK (idx >= 0 AND idx < 64),
	tenant_id UUID NOT NULL,
	account_id UUID NOT NULL,
	shard INT8 NOT NULL CHECK (shard >= 0 AND shard < 256),
	direction TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
	amount NUMERIC NOT NULL CHECK (amount > 0 AND amount = trunc(amount, 4)),
	currency TEXT NOT NULL,
	pending BOOL NOT NULL,
	balance_after NUMERIC,
	seq INT8,
	created_at TIMESTAMPTZ NOT NULL,
	effective_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (entry_id, idx),
	CONSTRAINT ledger_postings_entry FOREIGN KEY (tenant_id, entry_id) REFERENCES ledger_entries (tenant_id, id),
	CONSTRAINT ledger_postings_account FOREIGN KEY (tenant_id, account_id, currency) REFERENCES ledger_accounts (tenant_id, id, currency),
	CONSTRAINT ledger_postings_running CHECK ((pending AND balance_after IS NULL AND seq IS NULL) OR (NOT pending AND balance_after IS NOT NULL AND seq IS NOT NULL AND seq > 0))
);

CREATE INDEX ledger_postings_account_time ON ledger_postings (account_id, shard, created_at, seq);

-- What became of a pending entry: one row at most (the primary key makes
-- commit, void and expiry race-safe). entry_id is the posted entry a commit
-- created.
CREATE TABLE ledger_pending_resolutions (
	pending_id UUID PRIMARY KEY REFERENCES ledger_entries (id),
	tenant_id UUID NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('committed', 'voided', 'expired')),
	entry_id UUID REFERENCES ledger_entries (id),
	resolved_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT ledger_pending_resolutions_commit CHECK ((status = 'committed') = (entry_id IS NOT NULL))
);

-- Sealed blocks: per tenant, a hash chain over entries in (created_at, id)
-- order. Block h holds the entries after block h-1's last position up to and
-- including (last_created_at, last_entry_id).
CREATE TABLE ledger_blocks (
	tenant_id UUID NOT NULL,
	height INT8 NOT NULL CHECK (height >= 1),
	id UUID NOT NULL UNIQUE,
	prev_hash BYTEA NOT NULL,
	hash BYTEA NOT NULL,
	entry_count INT8 NOT NULL CHECK (entry_count >= 1),
	last_created_at TIMESTAMPTZ NOT NULL,
	last_entry_id UUID NOT NULL,
	sealed_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, height)
);
