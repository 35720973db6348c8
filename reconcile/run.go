package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

// Limits of a run.
const (
	// MaxRunDays bounds the date range of a run.
	MaxRunDays = 366
	// MaxRunLines and MaxRunPostings bound the open items a run loads.
	MaxRunLines    = 1_000_000
	MaxRunPostings = 5_000_000
	// MaxRunListItems bounds each list of a run's answer (matches,
	// unmatched lines, unmatched postings); the counts are always whole.
	MaxRunListItems = 1000
)

// ErrRunTooLarge: the run would load more than MaxRunLines or
// MaxRunPostings open items; narrow its range.
var ErrRunTooLarge = errors.New("reconcile: run too large")

// RunRequest is the body of POST /v1/reconciliation/runs.
type RunRequest struct {
	Account string `json:"account"`
	// From and To are dates (YYYY-MM-DD), both included: the statement
	// lines dated in them are matched against the account's postings
	// booked in them, widened by the date window.
	From   string `json:"from"`
	To     string `json:"to"`
	DryRun bool   `json:"dry_run"`
	// DateWindowDays is the ± window of the date rules (default 3).
	DateWindowDays *int `json:"date_window_days,omitempty"`
	// FeeTolerance, in the account's currency, turns on the fee rule.
	FeeTolerance string `json:"fee_tolerance,omitempty"`
}

type runCommand struct {
	account  string
	from, to time.Time
	dryRun   bool
	window   int
	feeText  string
}

// Validate checks the request's shape.
func (r RunRequest) Validate() (runCommand, error) {
	var errs valid.Errors
	c := runCommand{account: strings.TrimSpace(r.Account), dryRun: r.DryRun, window: DefaultWindowDays, feeText: strings.TrimSpace(r.FeeTolerance)}
	if c.account == "" {
		errs.Add("account", "is required")
	}
	c.from = dateField(&errs, "from", r.From)
	c.to = dateField(&errs, "to", r.To)
	if !c.from.IsZero() && !c.to.IsZero() {
		switch {
		case c.to.Before(c.from):
			errs.Add("to", "must not be before from")
		case c.to.Sub(c.from) >= MaxRunDays*24*time.Hour:
			errs.Add("to", fmt.Sprintf("a run covers at most %d days", MaxRunDays))
		}
	}
	if r.DateWindowDays != nil {
		if *r.DateWindowDays < 0 || *r.DateWindowDays > MaxWindowDays {
			errs.Add("date_window_days", fmt.Sprintf("must be 0..%d", MaxWindowDays))
		}
		c.window = *r.DateWindowDays
	}
	return c, errs.Err()
}

func dateField(errs *valid.Errors, field, s string) time.Time {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		errs.Add(field, "must be a date YYYY-MM-DD")
		return time.Time{}
	}
	return t
}

// Aging counts unmatched items by age in days.
type Aging struct {
	Days0To3, Days4To7, Days8To30, Over30 int
}

func (a *Aging) add(days int) {
	switch {
	case days <= 3:
		a.Days0To3++
	case days <= 7:
		a.Days4To7++
	case days <= 30:
		a.Days8To30++
	default:
		a.Over30++
	}
}

// RunResult is what a run found (and, unless a dry run, stored).
type RunResult struct {
	RunID        *uuid.UUID
	DryRun       bool
	AccountID    uuid.UUID
	Account      string
	Currency     string
	From, To     time.Time
	AsOf         time.Time
	WindowDays   int
	FeeTolerance decimal.Decimal
	// Lines and Postings are the open items the run looked at (postings
	// booked in the range widened by the window).
	Lines, Postings int
	MatchCount      int
	MatchedLines    int
	MatchedPostings int
	ByRule          map[string]int
	// Unmatched counts cover the lines dated and the postings booked in
	// [From, To].
	UnmatchedLineCount    int
	UnmatchedPostingCount int
	LineAging             Aging
	PostingAging          Aging
	// SearchTruncated: the subset-sum search hit MaxSearchSteps.
	SearchTruncated bool
	// Lists of at most MaxRunListItems; ListsTruncated when cut.
	Matches           []Match
	UnmatchedLines    []LineItem
	UnmatchedPostings []PostingItem
	ListsTruncated    bool

	found []foundGroup // every match, stored unless a dry run
}

// ResourceID names the run for the audit log ("" for a dry run).
func (r RunResult) ResourceID() string {
	if r.RunID == nil {
		return ""
	}
	return r.RunID.String()
}

// runLine is a loaded open line.
type runLine struct {
	LineItem
}

// Run matches the account's open statement lines dated in [from, to]
// against its open postings, rule by rule (reference, amount and date,
// one-to-many, many-to-one, fee tolerance). Unless DryRun, the matches and
// the run are stored in one transaction; a line or posting matched
// meanwhile by another run or by hand fails the run (ErrAlreadyMatched,
// nothing stored). A dry run stores nothing.
func (s *Service) Run(ctx context.Context, tenant uuid.UUID, req RunRequest) (RunResult, error) {
	c, err := req.Validate()
	if err != nil {
		return RunResult{}, err
	}
	acct, err := s.account(ctx, s.DB.Pool, tenant, c.account)
	if err != nil {
		return RunResult{}, err
	}
	cfg := MatchConfig{WindowDays: c.window}
	fee := decimal.Zero
	if c.feeText != "" {
		cur, err := money.Lookup(acct.Currency)
		if err != nil {
			return RunResult{}, fmt.Errorf("reconcile: account %s: %w", acct.Code, err)
		}
		if fee, err = money.ParseAmount(c.feeText, cur); err != nil || fee.IsNegative() {
			return RunResult{}, valid.FieldCode("invalid_amount", "fee_tolerance", fmt.Sprintf("must be an amount in %s", acct.Currency))
		}
		cfg.FeeTolerance, _ = toUnits(fee)
	}
	now := s.Clock.Now()
	res, err := s.match(ctx, tenant, acct, c, cfg, now)
	if err != nil {
		return RunResult{}, err
	}
	res.FeeTolerance = fee
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (RunResult, error) {
		if c.dryRun {
			return res, nil
		}
		return storeRun(ctx, tx, tenant, res, now)
	})
}

// foundGroup is a match a run found, with its item ids, before it is stored.
type foundGroup struct {
	id       uuid.UUID
	rule     string
	lines    []uuid.UUID
	postings []PostingID
	lineSum  decimal.Decimal
	postSum  decimal.Decimal
}

// match loads the open items, runs the matcher and builds the answer.
func (s *Service) match(ctx context.Context, tenant uuid.UUID, acct ledger.Account, c runCommand, cfg MatchConfig, now time.Time) (RunResult, error) {
	lines, err := loadOpenLines(ctx, s.DB, tenant, acct.ID, c.from, c.to)
	if err != nil {
		return RunResult{}, err
	}
	m := newMatcher(cfg)
	for _, l := range lines {
		u, ok := toUnits(l.Amount)
		m.addLine(u, ok, dayNumber(l.Date), l.EndToEndID, l.AcctSvcrRef, l.Reference)
	}
	window := time.Duration(cfg.WindowDays) * 24 * time.Hour
	pFrom, pTo := c.from.Add(-window), c.to.Add(24*time.Hour+window)
	postings, err := streamOpenPostings(ctx, s.DB, tenant, acct, pFrom, pTo, m)
	if err != nil {
		return RunResult{}, err
	}
	m.finish()
	if m.err != nil {
		return RunResult{}, m.err
	}

	res := RunResult{DryRun: c.dryRun, AccountID: acct.ID, Account: acct.Code, Currency: acct.Currency, From: c.from, To: c.to, AsOf: now,
		WindowDays: cfg.WindowDays, Lines: len(lines), Postings: len(postings), ByRule: map[string]int{}, SearchTruncated: m.truncated}
	for _, r := range Rules {
		res.ByRule[r] = 0
	}
	groups := make([]foundGroup, len(m.groups))
	for gi, g := range m.groups {
		fg := foundGroup{id: uuid.Must(uuid.NewV7()), rule: g.rule, lineSum: decimal.Zero, postSum: decimal.Zero}
		for _, li := range g.lines {
			fg.lines = append(fg.lines, lines[li].ID)
			fg.lineSum = fg.lineSum.Add(lines[li].Amount)
		}
		for _, pi := range g.postings {
			fg.postings = append(fg.postings, postings[pi])
			fg.postSum = fg.postSum.Add(fromUnits(m.postings[pi].amount))
		}
		groups[gi] = fg
		res.ByRule[g.rule]++
		res.MatchedLines += len(g.lines)
		res.MatchedPostings += len(g.postings)
	}
	res.MatchCount = len(groups)

	// The lists: details of the first matches and unmatched items.
	var wantLines []uuid.UUID
	var wantPostings []PostingID
	for gi := range min(len(groups), MaxRunListItems) {
		g := groups[gi]
		wantLines = append(wantLines, g.lines[:min(len(g.lines), MaxMatchListItems)]...)
		wantPostings = append(wantPostings, g.postings[:min(len(g.postings), MaxMatchListItems)]...)
	}
	res.ListsTruncated = len(groups) > MaxRunListItems
	lo, hi := dayNumber(c.from), dayNumber(c.to)
	for li, l := range m.lines {
		if l.group >= 0 {
			continue
		}
		item := lines[li].LineItem
		item.AgeDays = ageDays(item.Date, now)
		res.UnmatchedLineCount++
		res.LineAging.add(item.AgeDays)
		if len(res.UnmatchedLines) < MaxRunListItems {
			res.UnmatchedLines = append(res.UnmatchedLines, item)
		} else {
			res.ListsTruncated = true
		}
	}
	var unmatchedPostings []PostingID
	for pi, p := range m.postings {
		if p.group >= 0 || p.day < lo || p.day > hi {
			continue
		}
		res.UnmatchedPostingCount++
		res.PostingAging.add(max(int(dayNumber(now)-p.day), 0))
		if len(unmatchedPostings) < MaxRunListItems {
			unmatchedPostings = append(unmatchedPostings, postings[pi])
		} else {
			res.ListsTruncated = true
		}
	}
	wantPostings = append(wantPostings, unmatchedPostings...)
	details, err := loadPostingItems(ctx, s.DB.Pool, tenant, wantPostings)
	if err != nil {
		return RunResult{}, err
	}
	for _, id := range unmatchedPostings {
		p := details[id].PostingItem
		p.AgeDays = ageDays(p.BookedAt, now)
		res.UnmatchedPostings = append(res.UnmatchedPostings, p)
	}
	byID := make(map[uuid.UUID]LineItem, len(lines))
	for _, l := range lines {
		byID[l.ID] = l.LineItem
	}
	for gi := range min(len(groups), MaxRunListItems) {
		res.Matches = append(res.Matches, groups[gi].view(byID, details, acct.Currency, now))
	}
	res.found = groups
	return res, nil
}

// view is the answer's form of a found group.
func (g foundGroup) view(lines map[uuid.UUID]LineItem, postings map[PostingID]postingRow, currency string, now time.Time) Match {
	m := Match{ID: g.id, Rule: g.rule, LineCount: len(g.lines), PostingCount: len(g.postings), LineTotal: g.lineSum, PostingTotal: g.postSum,
		Difference: g.lineSum.Sub(g.postSum), CreatedAt: now}
	for _, id := range g.lines[:min(len(g.lines), MaxMatchListItems)] {
		m.Lines = append(m.Lines, lines[id])
	}
	for _, id := range g.postings[:min(len(g.postings), MaxMatchListItems)] {
		p := postings[id].PostingItem
		if p.Currency == "" {
			p.ID, p.Currency = id, currency
		}
		m.Postings = append(m.Postings, p)
	}
	m.LagDays = lagDays(m.Lines, m.Postings)
	return m
}

func lagDays(lines []LineItem, postings []PostingItem) int {
	lag := 0
	for _, l := range lines {
		for _, p := range postings {
			d := int(dayNumber(l.Date) - dayNumber(p.BookedAt))
			lag = max(lag, d, -d)
		}
	}
	return lag
}

// loadOpenLines reads the account's booked lines dated in [from, to] that
// no match holds.
func loadOpenLines(ctx context.Context, d *db.DB, tenant, account uuid.UUID, from, to time.Time) ([]runLine, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT `+lineColumns+` FROM recon_lines l
		WHERE l.account_id = $1 AND l.tenant_id = $2 AND l.match_date >= $3 AND l.match_date <= $4 AND l.status = 'booked'
			AND NOT EXISTS (SELECT 1 FROM recon_match_lines ml WHERE ml.line_id = l.id)
		ORDER BY l.match_date, l.id
		LIMIT $5`, account, tenant, from, to, MaxRunLines+1)
	if err != nil {
		return nil, fmt.Errorf("reconcile: open lines: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (runLine, error) {
		l, err := scanLine(r)
		return runLine{l}, err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: open lines: %w", err)
	}
	if len(out) > MaxRunLines {
		return nil, fmt.Errorf("%w: more than %d open statement lines; narrow the range", ErrRunTooLarge, MaxRunLines)
	}
	return out, nil
}

// streamOpenPostings streams the account's posted postings booked in
// [from, to) that no match holds into the matcher and returns their ids in
// the matcher's order. One index range per balance shard (shard = ANY),
// read as one pass over the table; only ids and a few numbers are kept per
// posting. The SQL converts amounts to units only below maxUnits (a larger
// one would overflow INT8 and fail the whole run); a posting at or above it
// comes as NULL and is added unmatchable: left to finance, counted as
// unmatched.
func streamOpenPostings(ctx context.Context, d *db.DB, tenant uuid.UUID, acct ledger.Account, from, to time.Time, m *matcher) ([]PostingID, error) {
	shards := make([]int64, max(acct.Shards, 1))
	for i := range shards {
		shards[i] = int64(i)
	}
	rows, err := d.Pool.Query(ctx, `
		SELECT p.entry_id, p.idx, CASE WHEN abs(p.amount) < $6 THEN (p.amount * 10000)::INT8 END, p.direction = 'debit', p.created_at,
			e.reference, COALESCE(e.metadata->>'payment_ref', ''), COALESCE(e.metadata->>'batch_ref', ''), COALESCE(e.metadata->>'psp_ref', '')
		FROM ledger_postings p
		JOIN ledger_entries e ON e.id = p.entry_id
		WHERE p.account_id = $1 AND p.shard = ANY ($5) AND p.tenant_id = $2 AND p.seq IS NOT NULL AND p.created_at >= $3 AND p.created_at < $4
			AND NOT EXISTS (SELECT 1 FROM recon_match_postings mp WHERE mp.entry_id = p.entry_id AND mp.idx = p.idx)`,
		acct.ID, tenant, from, to, shards, fromUnits(maxUnits))
	if err != nil {
		return nil, fmt.Errorf("reconcile: open postings: %w", err)
	}
	defer rows.Close()
	var ids []PostingID
	var id PostingID
	var idx int64
	var units pgtype.Int8
	var debit bool
	var at time.Time
	var ref, paymentRef, batchRef, pspRef string
	for rows.Next() {
		if err := rows.Scan(&id.EntryID, &idx, &units, &debit, &at, &ref, &paymentRef, &batchRef, &pspRef); err != nil {
			return nil, fmt.Errorf("reconcile: open postings: %w", err)
		}
		if len(ids) == MaxRunPostings {
			return nil, fmt.Errorf("%w: more than %d open postings; narrow the range", ErrRunTooLarge, MaxRunPostings)
		}
		id.Idx = int(idx)
		ids = append(ids, id)
		if !units.Valid {
			m.addUnmatchablePosting(dayNumber(at))
			continue
		}
		u := units.Int64
		if !debit {
			u = -u
		}
		m.addPosting(u, dayNumber(at), ref, paymentRef, batchRef, pspRef, fundingRef(ref))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reconcile: open postings: %w", err)
	}
	return ids, nil
}

// fundingRef is the payment reference inside an escrow funding's entry
// reference "escrow:<id>:fund:<payment_ref>" (FX fundings carry it only
// there), else "".
func fundingRef(ref string) string {
	if !strings.HasPrefix(ref, "escrow:") {
		return ""
	}
	if _, after, ok := strings.Cut(ref, ":fund:"); ok {
		return after
	}
	return ""
}

// storeRun stores the run and its matches; any item matched meanwhile
// fails it with *AlreadyMatchedError.
func storeRun(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, res RunResult, now time.Time) (RunResult, error) {
	runID := uuid.Must(uuid.NewV7())
	_, err := tx.Exec(ctx, `
		INSERT INTO recon_runs (id, tenant_id, account_id, from_date, to_date, window_days, fee_tolerance, lines, postings, matches,
			unmatched_lines, unmatched_postings, search_truncated, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		runID, tenant, res.AccountID, res.From, res.To, res.WindowDays, res.FeeTolerance, res.Lines, res.Postings, res.MatchCount,
		res.UnmatchedLineCount, res.UnmatchedPostingCount, res.SearchTruncated, now)
	if err != nil {
		return RunResult{}, fmt.Errorf("reconcile: store run: %w", err)
	}
	if err := insertMatches(ctx, tx, tenant, res.AccountID, &runID, res.found, "", now); err != nil {
		return RunResult{}, err
	}
	out := res
	out.RunID = &runID
	out.Matches = slices.Clone(res.Matches)
	for i := range out.Matches {
		out.Matches[i].RunID = &runID
	}
	return out, nil
}

// insertMatches stores groups and claims their items; an item some other
// match holds fails with *AlreadyMatchedError.
func insertMatches(ctx context.Context, tx pgx.Tx, tenant, account uuid.UUID, runID *uuid.UUID, groups []foundGroup, note string, now time.Time) error {
	rule := func(g foundGroup) string { return g.rule }
	for start := 0; start < len(groups); start += insertBatchSize {
		batch := groups[start:min(start+insertBatchSize, len(groups))]
		ids := make([]uuid.UUID, len(batch))
		rules, lt, pt, diff, items := make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch))
		var lineIDs, lineMatch []uuid.UUID
		var postEntries, postMatch []uuid.UUID
		var postIdx []int64
		for i, g := range batch {
			ids[i], rules[i] = g.id, rule(g)
			lt[i], pt[i], diff[i] = g.lineSum.String(), g.postSum.String(), g.lineSum.Sub(g.postSum).String()
			mi := matchItems{Lines: make([]string, len(g.lines)), Postings: make([]string, len(g.postings))}
			for j, l := range g.lines {
				mi.Lines[j] = l.String()
				lineIDs, lineMatch = append(lineIDs, l), append(lineMatch, g.id)
			}
			for j, p := range g.postings {
				mi.Postings[j] = p.String()
				postEntries, postIdx, postMatch = append(postEntries, p.EntryID), append(postIdx, int64(p.Idx)), append(postMatch, g.id)
			}
			b, _ := json.Marshal(mi)
			items[i] = string(b)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO recon_matches (id, tenant_id, account_id, run_id, rule, line_total, posting_total, difference, items, note, created_at)
			SELECT u.id, $1, $2, $3, u.rule, u.lt::NUMERIC, u.pt::NUMERIC, u.diff::NUMERIC, u.items::JSONB, $4, $5
			FROM unnest($6::UUID[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[]) AS u (id, rule, lt, pt, diff, items)`,
			tenant, account, runID, note, now, ids, rules, lt, pt, diff, items); err != nil {
			return fmt.Errorf("reconcile: store matches: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO recon_match_lines (line_id, tenant_id, match_id)
			SELECT u.line_id, $1, u.match_id FROM unnest($2::UUID[], $3::UUID[]) AS u (line_id, match_id)
			ON CONFLICT (line_id) DO NOTHING`, tenant, lineIDs, lineMatch)
		if err != nil {
			return fmt.Errorf("reconcile: store matched lines: %w", err)
		}
		lost := int(tag.RowsAffected()) < len(lineIDs)
		tag, err = tx.Exec(ctx, `
			INSERT INTO recon_match_postings (entry_id, idx, tenant_id, match_id)
			SELECT u.entry_id, u.idx, $1, u.match_id FROM unnest($2::UUID[], $3::INT8[], $4::UUID[]) AS u (entry_id, idx, match_id)
			ON CONFLICT (entry_id, idx) DO NOTHING`, tenant, postEntries, postIdx, postMatch)
		if err != nil {
			return fmt.Errorf("reconcile: store matched postings: %w", err)
		}
		if lost || int(tag.RowsAffected()) < len(postEntries) {
			return alreadyMatched(ctx, tx, lineIDs, lineMatch, postEntries, postIdx, postMatch)
		}
	}
	return nil
}

// alreadyMatched names the items held by other matches than the ones
// being stored.
func alreadyMatched(ctx context.Context, tx pgx.Tx, lineIDs, lineMatch, postEntries []uuid.UUID, postIdx []int64, postMatch []uuid.UUID) error {
	const show = 20
	e := &AlreadyMatchedError{}
	rows, err := tx.Query(ctx, `
		SELECT u.line_id FROM unnest($1::UUID[], $2::UUID[]) AS u (line_id, match_id)
		JOIN recon_match_lines ml ON ml.line_id = u.line_id AND ml.match_id <> u.match_id LIMIT $3`, lineIDs, lineMatch, show)
	if err != nil {
		return fmt.Errorf("reconcile: matched lines: %w", err)
	}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { e.Lines = append(e.Lines, id.String()); return nil }); err != nil {
		return fmt.Errorf("reconcile: matched lines: %w", err)
	}
	rows, err = tx.Query(ctx, `
		SELECT u.entry_id, u.idx FROM unnest($1::UUID[], $2::INT8[], $3::UUID[]) AS u (entry_id, idx, match_id)
		JOIN recon_match_postings mp ON mp.entry_id = u.entry_id AND mp.idx = u.idx AND mp.match_id <> u.match_id LIMIT $4`,
		postEntries, postIdx, postMatch, show)
	if err != nil {
		return fmt.Errorf("reconcile: matched postings: %w", err)
	}
	var idx int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &idx}, func() error {
		e.Postings = append(e.Postings, PostingID{EntryID: id, Idx: int(idx)}.String())
		return nil
	}); err != nil {
		return fmt.Errorf("reconcile: matched postings: %w", err)
	}
	return e
}
