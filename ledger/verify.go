package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// MaxVerifyIssues bounds the issues one Verify reports.
const MaxVerifyIssues = 1000

// blockBatch is how many blocks Verify reads at once.
const blockBatch = 100

// Issue kinds reported by Verify.
const (
	IssueEntryUnbalanced = "entry_unbalanced"
	IssueEntryPostings   = "entry_postings"
	IssuePosting         = "posting_integrity"
	IssueBalance         = "balance_mismatch"
	IssueRunningBalance  = "running_balance_mismatch"
	IssueOverdraft       = "overdraft"
	IssueBlockHash       = "block_hash_mismatch"
	IssueBlockChain      = "block_chain_broken"
)

// Issue is one thing Verify found wrong, with the account, entry or block
// it concerns.
type Issue struct {
	Kind        string
	TenantID    uuid.UUID
	AccountID   *uuid.UUID
	AccountCode string
	EntryID     *uuid.UUID
	BlockID     *uuid.UUID
	BlockHeight int64
	Detail      string
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	Tenants, Accounts, Entries, Postings, Blocks int64
	Issues                                       []Issue
	// Truncated: more than MaxVerifyIssues issues; the rest are not listed.
	Truncated bool
}

func (r *VerifyReport) add(is Issue) bool {
	if len(r.Issues) >= MaxVerifyIssues {
		r.Truncated = true
		return false
	}
	r.Issues = append(r.Issues, is)
	return true
}

// Verify re-derives the ledger of one tenant (or every tenant when nil)
// from its postings, in one read-only snapshot per tenant: every entry has
// its posting count (at least 2) and balances per currency; every balance
// row equals the sum of its postings (posted, open pending debits and
// credits, sequence); every posting's stored running balance equals the
// running sum of its shard; no guarded account is past its floor; and every
// sealed block's hash, recomputed from the entries and postings it covers,
// matches and chains to the previous block. It reads the whole history.
func (s *Service) Verify(ctx context.Context, tenant *uuid.UUID) (VerifyReport, error) {
	var rep VerifyReport
	err := forEachTenant(ctx, s.DB, tenant, func(t uuid.UUID) error {
		var one VerifyReport
		err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
			one = VerifyReport{}
			return verifyTenant(ctx, tx, t, &one, MaxVerifyIssues-len(rep.Issues))
		})
		if err != nil {
			return fmt.Errorf("verify tenant %s: %w", t, err)
		}
		rep.Tenants++
		rep.Accounts += one.Accounts
		rep.Entries += one.Entries
		rep.Postings += one.Postings
		rep.Blocks += one.Blocks
		for _, is := range one.Issues {
			rep.add(is)
		}
		rep.Truncated = rep.Truncated || one.Truncated
		return nil
	})
	return rep, err
}

func verifyTenant(ctx context.Context, q db.Querier, tenant uuid.UUID, rep *VerifyReport, room int) error {
	if room <= 0 {
		rep.Truncated = true
		return nil
	}
	if err := q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM ledger_accounts WHERE tenant_id = $1), (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1),
			(SELECT count(*) FROM ledger_postings WHERE tenant_id = $1), (SELECT count(*) FROM ledger_blocks WHERE tenant_id = $1)`,
		tenant).Scan(&rep.Accounts, &rep.Entries, &rep.Postings, &rep.Blocks); err != nil {
		return fmt.Errorf("counts: %w", err)
	}
	add := func(is Issue) bool {
		if len(rep.Issues) >= room {
			rep.Truncated = true
			return false
		}
		is.TenantID = tenant
		return rep.add(is)
	}
	checks := []func(context.Context, db.Querier, uuid.UUID, int, func(Issue) bool) error{
		verifyPostings, verifyEntries, verifyBalances, verifyRunning, verifyOverdraft, verifyBlocks,
	}
	for _, check := range checks {
		if err := check(ctx, q, tenant, room, add); err != nil {
			return err
		}
	}
	return nil
}

// verifyPostings checks what the database does not: every posting belongs
// to an entry of its tenant and to an account of its tenant in its currency.
func verifyPostings(ctx context.Context, q db.Querier, tenant uuid.UUID, limit int, add func(Issue) bool) error {
	rows, err := q.Query(ctx, `
		SELECT p.entry_id, p.idx, p.account_id, COALESCE(a.code, ''), p.currency, COALESCE(a.currency, ''),
			e.id IS NULL, a.id IS NULL
		FROM ledger_postings p
		LEFT JOIN ledger_entries e ON e.id = p.entry_id AND e.tenant_id = p.tenant_id
		LEFT JOIN ledger_accounts a ON a.id = p.account_id AND a.tenant_id = p.tenant_id
		WHERE p.tenant_id = $1 AND (e.id IS NULL OR a.id IS NULL OR a.currency <> p.currency)
		ORDER BY p.entry_id, p.idx LIMIT $2`, tenant, limit)
	if err != nil {
		return fmt.Errorf("verify postings: %w", err)
	}
	var entry, acct uuid.UUID
	var idx int64
	var code, cur, acur string
	var noEntry, noAccount bool
	if _, err := pgx.ForEachRow(rows, []any{&entry, &idx, &acct, &code, &cur, &acur, &noEntry, &noAccount}, func() error {
		e, a := entry, acct
		detail := fmt.Sprintf("posting %d of entry %s: account %s %s is in %s, the posting in %s", idx, e, a, code, acur, cur)
		switch {
		case noEntry:
			detail = fmt.Sprintf("posting %d of entry %s: no such entry of the tenant", idx, e)
		case noAccount:
			detail = fmt.Sprintf("posting %d of entry %s: account %s is not the tenant's", idx, e, a)
		}
		add(Issue{Kind: IssuePosting, EntryID: &e, AccountID: &a, AccountCode: code, Detail: detail})
		return nil
	}); err != nil {
		return fmt.Errorf("verify postings: %w", err)
	}
	return nil
}

func verifyEntries(ctx context.Context, q db.Querier, tenant uuid.UUID, limit int, add func(Issue) bool) error {
	rows, err := q.Query(ctx, `
		SELECT e.id, e.posting_count, count(p.idx) FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id
		WHERE e.tenant_id = $1
		GROUP BY e.id, e.posting_count HAVING count(p.idx) <> e.posting_count OR count(p.idx) < 2
		ORDER BY e.id LIMIT $2`, tenant, limit)
	if err != nil {
		return fmt.Errorf("verify entries: %w", err)
	}
	var id uuid.UUID
	var want, got int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &want, &got}, func() error {
		e := id
		add(Issue{Kind: IssueEntryPostings, EntryID: &e, Detail: fmt.Sprintf("entry %s has %d postings, written with %d", e, got, want)})
		return nil
	}); err != nil {
		return fmt.Errorf("verify entries: %w", err)
	}
	rows, err = q.Query(ctx, `
		SELECT entry_id, currency, SUM(CASE WHEN direction = 'debit' THEN amount ELSE 0 END), SUM(CASE WHEN direction = 'credit' THEN amount ELSE 0 END)
		FROM ledger_postings WHERE tenant_id = $1
		GROUP BY entry_id, currency
		HAVING SUM(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0
		ORDER BY entry_id LIMIT $2`, tenant, limit)
	if err != nil {
		return fmt.Errorf("verify entries: %w", err)
	}
	var cur string
	var debit, credit decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&id, &cur, &debit, &credit}, func() error {
		e := id
		add(Issue{Kind: IssueEntryUnbalanced, EntryID: &e, Detail: fmt.Sprintf("entry %s: %s debits %s, credits %s", e, cur, debit, credit)})
		return nil
	}); err != nil {
		return fmt.Errorf("verify entries: %w", err)
	}
	return nil
}

// verifyBalances compares every balance row with the sums of its postings.
func verifyBalances(ctx context.Context, q db.Querier, tenant uuid.UUID, limit int, add func(Issue) bool) error {
	rows, err := q.Query(ctx, `
		WITH s AS (
			SELECT p.account_id, p.shard,
				SUM(CASE WHEN p.pending THEN 0 WHEN p.direction = a.normal_side THEN p.amount ELSE -p.amount END) AS posted,
				SUM(CASE WHEN p.pending AND r.pending_id IS NULL AND p.direction = 'debit' THEN p.amount ELSE 0 END) AS pd,
				SUM(CASE WHEN p.pending AND r.pending_id IS NULL AND p.direction = 'credit' THEN p.amount ELSE 0 END) AS pc,
				SUM(CASE WHEN p.pending THEN 0 ELSE 1 END) AS n
			FROM ledger_postings p
			JOIN ledger_accounts a ON a.id = p.account_id
			LEFT JOIN ledger_pending_resolutions r ON r.pending_id = p.entry_id
			WHERE p.tenant_id = $1
			GROUP BY p.account_id, p.shard
		)
		SELECT COALESCE(b.account_id, s.account_id), COALESCE(b.shard, s.shard), COALESCE(b.posted, 0), COALESCE(b.pending_debits, 0),
			COALESCE(b.pending_credits, 0), COALESCE(b.seq, -1),
			COALESCE(s.posted, 0), COALESCE(s.pd, 0), COALESCE(s.pc, 0), COALESCE(s.n, 0)
		FROM (SELECT * FROM ledger_balances WHERE tenant_id = $1) b
		FULL JOIN s ON s.account_id = b.account_id AND s.shard = b.shard
		WHERE b.account_id IS NULL OR b.posted <> COALESCE(s.posted, 0) OR b.pending_debits <> COALESCE(s.pd, 0)
			OR b.pending_credits <> COALESCE(s.pc, 0) OR b.seq <> COALESCE(s.n, 0)
		ORDER BY 1, 2 LIMIT $2`, tenant, limit)
	if err != nil {
		return fmt.Errorf("verify balances: %w", err)
	}
	var acct uuid.UUID
	var shard, seq, n int64
	var posted, pd, pc, wantPosted, wantPD, wantPC decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&acct, &shard, &posted, &pd, &pc, &seq, &wantPosted, &wantPD, &wantPC, &n}, func() error {
		a := acct
		add(Issue{Kind: IssueBalance, AccountID: &a, Detail: fmt.Sprintf(
			"account %s shard %d: balance row posted %s, pending debits %s, credits %s, seq %d; postings give %s, %s, %s, %d",
			a, shard, posted, pd, pc, seq, wantPosted, wantPD, wantPC, n)})
		return nil
	}); err != nil {
		return fmt.Errorf("verify balances: %w", err)
	}
	return nil
}

// verifyRunning recomputes every posted posting's running balance and
// sequence number in its shard, and checks posting times never go back.
func verifyRunning(ctx context.Context, q db.Querier, tenant uuid.UUID, limit int, add func(Issue) bool) error {
	rows, err := q.Query(ctx, `
		SELECT account_id, shard, MIN(seq), count(*) FROM (
			SELECT p.account_id, p.shard, p.seq, p.balance_after, p.created_at,
				SUM(CASE WHEN p.direction = a.normal_side THEN p.amount ELSE -p.amount END)
					OVER (PARTITION BY p.account_id, p.shard ORDER BY p.seq ROWS UNBOUNDED PRECEDING) AS running,
				ROW_NUMBER() OVER (PARTITION BY p.account_id, p.shard ORDER BY p.seq) AS rn,
				LAG(p.created_at) OVER (PARTITION BY p.account_id, p.shard ORDER BY p.seq) AS prev_at
			FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
			WHERE p.tenant_id = $1 AND NOT p.pending
		) x
		WHERE balance_after <> running OR seq <> rn OR prev_at > created_at
		GROUP BY account_id, shard ORDER BY account_id, shard LIMIT $2`, tenant, limit)
	if err != nil {
		return fmt.Errorf("verify running balances: %w", err)
	}
	var acct uuid.UUID
	var shard, seq, n int64
	if _, err := pgx.ForEachRow(rows, []any{&acct, &shard, &seq, &n}, func() error {
		a := acct
		add(Issue{Kind: IssueRunningBalance, AccountID: &a, Detail: fmt.Sprintf(
			"account %s shard %d: %d postings disagree with the running sum, the first at seq %d", a, shard, n, seq)})
		return nil
	}); err != nil {
		return fmt.Errorf("verify running balances: %w", err)
	}
	return nil
}

func verifyOverdraft(ctx context.Context, q db.Querier, tenant uuid.UUID, limit int, add func(Issue) bool) error {
	rows, err := q.Query(ctx, `
		SELECT a.id, a.code, SUM(b.posted) - SUM(CASE WHEN a.normal_side = 'debit' THEN b.pending_credits ELSE b.pending_debits END),
			-a.overdraft_limit
		FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
		WHERE a.tenant_id = $1 AND (a.no_overdraft OR a.overdraft_limit > 0)
		GROUP BY a.id, a.code, a.overdraft_limit
		HAVING SUM(b.posted) - SUM(CASE WHEN a.normal_side = 'debit' THEN b.pending_credits ELSE b.pending_debits END) < -a.overdraft_limit
		ORDER BY a.id LIMIT $2`, tenant, limit)
	if err != nil {
		return fmt.Errorf("verify overdrafts: %w", err)
	}
	var acct uuid.UUID
	var code string
	var avail, floor decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&acct, &code, &avail, &floor}, func() error {
		a := acct
		add(Issue{Kind: IssueOverdraft, AccountID: &a, AccountCode: code, Detail: fmt.Sprintf("account %s: available %s is below %s", code, avail, floor)})
		return nil
	}); err != nil {
		return fmt.Errorf("verify overdrafts: %w", err)
	}
	return nil
}

// verifyBlocks recomputes every sealed block's hash in height order.
func verifyBlocks(ctx context.Context, q db.Querier, tenant uuid.UUID, _ int, add func(Issue) bool) error {
	prevHash := genesis
	prevAt, prevID := minTime, uuid.Nil
	var height int64
	for {
		rows, err := q.Query(ctx, `
			SELECT id, height, prev_hash, hash, entry_count, last_created_at, last_entry_id FROM ledger_blocks
			WHERE tenant_id = $1 AND height > $2 ORDER BY height LIMIT $3`, tenant, height, blockBatch)
		if err != nil {
			return fmt.Errorf("verify blocks: %w", err)
		}
		blocks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Block, error) {
			var b Block
			err := r.Scan(&b.ID, &b.Height, &b.PrevHash, &b.Hash, &b.EntryCount, &b.LastCreatedAt, &b.LastEntryID)
			return b, err
		})
		if err != nil {
			return fmt.Errorf("verify blocks: %w", err)
		}
		for _, b := range blocks {
			id := b.ID
			if b.Height != height+1 || !bytes.Equal(b.PrevHash, prevHash) {
				if !add(Issue{Kind: IssueBlockChain, BlockID: &id, BlockHeight: b.Height, Detail: fmt.Sprintf(
					"block %d (%s) does not chain: previous hash %s, the chain has %s at height %d",
					b.Height, id, hex.EncodeToString(b.PrevHash), hex.EncodeToString(prevHash), height)}) {
					return nil
				}
			}
			last := b.LastCreatedAt
			entries, err := readSealEntries(ctx, q, tenant, prevAt, prevID, &last, b.LastEntryID, maxTime, MaxBlockEntries+1)
			if err != nil {
				return err
			}
			if got := blockHash(b.PrevHash, tenant, b.Height, entries); len(entries) != b.EntryCount || !bytes.Equal(got, b.Hash) {
				if !add(Issue{Kind: IssueBlockHash, BlockID: &id, BlockHeight: b.Height, Detail: fmt.Sprintf(
					"block %d (%s): %d entries hash to %s, sealed as %d entries with hash %s",
					b.Height, id, len(entries), hex.EncodeToString(got), b.EntryCount, hex.EncodeToString(b.Hash))}) {
					return nil
				}
			}
			prevHash, prevAt, prevID, height = b.Hash, b.LastCreatedAt, b.LastEntryID, b.Height
		}
		if len(blocks) < blockBatch {
			return nil
		}
	}
}
