-- Reconciliation: imported bank and PSP statements, their lines, matching
-- runs and the matches between statement lines and ledger postings.

-- One imported statement of a ledger (cash) account. statement_ref is the
-- statement's own id (camt.053 Stmt/Id; for CSV a mapping-given id or the
-- SHA-256 of the file), so importing it again finds this row. The balance
-- check (opening + booked lines = closing) is stored as it came out:
-- 'tied', 'mismatch' (with the difference closing - (opening + booked)) or
-- 'unchecked' (no balances in the file, always for CSV).
CREATE TABLE recon_statements (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	account_id UUID NOT NULL,
	statement_ref TEXT NOT NULL CHECK (length(statement_ref) BETWEEN 1 AND 500),
	format TEXT NOT NULL CHECK (format IN ('camt.053', 'csv')),
	iban TEXT NOT NULL DEFAULT '',
	currency TEXT NOT NULL CHECK (length(currency) = 3),
	bank_created_at TIMESTAMPTZ,
	from_at TIMESTAMPTZ,
	to_at TIMESTAMPTZ,
	opening_balance NUMERIC,
	closing_balance NUMERIC,
	booked_total NUMERIC NOT NULL,
	balance_status TEXT NOT NULL CHECK (balance_status IN ('tied', 'mismatch', 'unchecked')),
	balance_difference NUMERIC,
	line_count INT8 NOT NULL CHECK (line_count >= 0),
	imported_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT recon_statements_ref UNIQUE (tenant_id, account_id, statement_ref),
	CONSTRAINT recon_statements_balances CHECK (
		(balance_status = 'unchecked' AND balance_difference IS NULL)
		OR (balance_status = 'tied' AND balance_difference = 0 AND closing_balance = opening_balance + booked_total)
		OR (balance_status = 'mismatch' AND balance_difference <> 0 AND closing_balance = opening_balance + booked_total + balance_difference))
);

CREATE INDEX recon_statements_tenant ON recon_statements (tenant_id, account_id, imported_at);

-- Statement lines. amount is signed from the account holder's side (credit,
-- money in, positive). match_date is the booking date, else the value date,
-- else the statement's date: the date the matching rules compare.
CREATE TABLE recon_lines (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	statement_id UUID NOT NULL REFERENCES recon_statements (id),
	account_id UUID NOT NULL,
	entry_ref TEXT NOT NULL CHECK (length(entry_ref) BETWEEN 1 AND 500),
	line_no INT8 NOT NULL CHECK (line_no >= 1),
	amount NUMERIC NOT NULL,
	currency TEXT NOT NULL CHECK (length(currency) = 3),
	booking_date DATE,
	value_date DATE,
	match_date DATE NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('booked', 'pending')),
	reversal BOOL NOT NULL DEFAULT false,
	end_to_end_id TEXT NOT NULL DEFAULT '',
	acct_svcr_ref TEXT NOT NULL DEFAULT '',
	reference TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	counterparty TEXT NOT NULL DEFAULT '',
	imported_at TIMESTAMPTZ NOT NULL,
	CONSTRAINT recon_lines_entry_ref UNIQUE (statement_id, entry_ref)
);

CREATE INDEX recon_lines_account_date ON recon_lines (account_id, match_date, id);

-- A matching run that was stored (dry runs store nothing).
CREATE TABLE recon_runs (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	account_id UUID NOT NULL,
	from_date DATE NOT NULL,
	to_date DATE NOT NULL,
	window_days INT8 NOT NULL CHECK (window_days >= 0),
	fee_tolerance NUMERIC NOT NULL DEFAULT 0 CHECK (fee_tolerance >= 0),
	lines INT8 NOT NULL,
	postings INT8 NOT NULL,
	matches INT8 NOT NULL,
	unmatched_lines INT8 NOT NULL,
	unmatched_postings INT8 NOT NULL,
	search_truncated BOOL NOT NULL DEFAULT false,
	created_at TIMESTAMPTZ NOT NULL,
	CHECK (from_date <= to_date)
);

CREATE INDEX recon_runs_tenant ON recon_runs (tenant_id, account_id, created_at);

-- A match: statement lines and ledger postings that account for each other,
-- found by a rule of a run or made by hand (rule 'manual', run_id NULL).
-- difference = line_total - posting_total (non-zero only for fee tolerance
-- and manual matches). A deleted match keeps its row and the list of what
-- it matched (items); its rows in recon_match_lines/postings are removed so
-- the items can be matched again.
CREATE TABLE recon_matches (
	id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	account_id UUID NOT NULL,
	run_id UUID,
	rule TEXT NOT NULL CHECK (rule IN ('reference', 'amount_date', 'one_to_many', 'many_to_one', 'fee_tolerance', 'manual')),
	line_total NUMERIC NOT NULL,
	posting_total NUMERIC NOT NULL,
	difference NUMERIC NOT NULL,
	items JSONB NOT NULL,
	note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
	created_at TIMESTAMPTZ NOT NULL,
	deleted_at TIMESTAMPTZ,
	CHECK (difference = line_total - posting_total),
	CHECK ((rule = 'manual') = (run_id IS NULL)),
	CHECK (difference = 0 OR rule IN ('fee_tolerance', 'manual'))
);

CREATE INDEX recon_matches_tenant ON recon_matches (tenant_id, account_id, created_at);

-- The claims: a statement line, a ledger posting (entry id, index) is in
-- at most one live match (the primary keys). No foreign keys: a run stores
-- up to hundreds of thousands of claims in one transaction, and each key
-- check would take a row lock on the line, the posting and the match
-- (measured with escrowd bench-reconcile: storing 95,000 matches took
-- longer than matching them). The writers only claim items they read in
-- the same tenant (reconcile.storeRun, reconcile.CreateMatch), and the
-- run_id of recon_matches likewise.
CREATE TABLE recon_match_lines (
	line_id UUID PRIMARY KEY,
	tenant_id UUID NOT NULL,
	match_id UUID NOT NULL
);

CREATE INDEX recon_match_lines_match ON recon_match_lines (match_id);

CREATE TABLE recon_match_postings (
	entry_id UUID NOT NULL,
	idx INT8 NOT NULL,
	tenant_id UUID NOT NULL,
	match_id UUID NOT NULL,
	PRIMARY KEY (entry_id, idx)
);

CREATE INDEX recon_match_postings_match ON recon_match_postings (match_id);
