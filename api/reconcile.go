package api

import (
	"mime"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/reconcile"
)

// reconcileRoutes are the reconciliation routes (finance and admin).
func (s *Server) reconcileRoutes() []route {
	return []route{
		{method: http.MethodPost, path: "/v1/reconciliation/statements", roles: finance, write: s.importStatement, render: rcRenderStatementImport,
			idempotent: true, accept: []string{"application/xml", "text/xml", "text/csv"}, bodyLimit: MaxFileBodyBytes},
		{method: http.MethodPost, path: "/v1/reconciliation/runs", roles: finance, write: s.createRun, render: rcRenderRun, idempotent: true},
		{method: http.MethodPost, path: "/v1/reconciliation/matches", roles: finance, write: s.createMatch, render: rcRenderMatchCreated, idempotent: true},
		{method: http.MethodGet, path: "/v1/reconciliation/matches/{id}", roles: finance, read: s.getMatch},
		{method: http.MethodDelete, path: "/v1/reconciliation/matches/{id}", roles: finance, write: s.deleteMatch, render: rcRenderMatch},
		{method: http.MethodGet, path: "/v1/reports/settlement", roles: finance, read: s.settlementReport},
		{method: http.MethodGet, path: "/v1/reports/escrow-liability", roles: finance, read: s.liabilityReport},
		{method: http.MethodGet, path: "/v1/reports/fx", roles: finance, read: s.fxReport},
		{method: http.MethodGet, path: "/v1/reports/compliance", roles: finance, read: s.complianceReport},
	}
}

// fmtAmount prints an amount with its currency's decimals, or with all of
// its own when it has more (a bank may send 5 decimals).
func rcFmtAmount(d decimal.Decimal, currency string) string {
	c, err := money.Lookup(currency)
	if err != nil || d.Exponent() < -c.MinorUnits {
		return d.String()
	}
	return d.StringFixed(c.MinorUnits)
}

func rcOptAmount(d *decimal.Decimal, currency string) *string {
	if d == nil {
		return nil
	}
	s := rcFmtAmount(*d, currency)
	return &s
}

// importStatement answers POST /v1/reconciliation/statements?account=CODE:
// a camt.053 document (application/xml, text/xml) or a CSV (text/csv,
// mapping in query parameters).
func (s *Server) importStatement(r *http.Request, body []byte) (any, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	q := r.URL.Query()
	req := reconcile.ImportRequest{Account: q.Get("account"), Format: reconcile.FormatCamt053, Data: body}
	if mt == "text/csv" {
		p, err := reconcile.ParseCSVMappingParams(q.Get)
		if err != nil {
			return nil, err
		}
		req.Format, req.CSV = reconcile.FormatCSV, p
	}
	return s.reconcile.ImportStatement(r.Context(), principal(r).TenantID, req)
}

type rcBalanceCheckJSON struct {
	Status          string  `json:"status"`
	Opening         *string `json:"opening_balance"`
	BookedTotal     string  `json:"booked_total"`
	ExpectedClosing *string `json:"expected_closing_balance"`
	Closing         *string `json:"closing_balance"`
	Difference      *string `json:"difference"`
}

type rcStatementJSON struct {
	ID            uuid.UUID          `json:"id"`
	StatementID   string             `json:"statement_id"`
	Account       string             `json:"account"`
	Format        string             `json:"format"`
	IBAN          string             `json:"iban,omitempty"`
	Currency      string             `json:"currency"`
	CreatedAt     *time.Time         `json:"created_at,omitempty"`
	From          *time.Time         `json:"from,omitempty"`
	To            *time.Time         `json:"to,omitempty"`
	BalanceCheck  rcBalanceCheckJSON `json:"balance_check"`
	LineCount     int                `json:"line_count"`
	ImportedAt    time.Time          `json:"imported_at"`
	NewStatement  bool               `json:"new_statement"`
	Lines         int                `json:"lines"`
	NewLines      int                `json:"new_lines"`
	ExistingLines int                `json:"existing_lines"`
	// DuplicateLines were held already by another statement of the
	// account (overlapping CSV exports, skip_duplicates) and were not
	// stored; DuplicateLineNumbers are their first data row numbers.
	DuplicateLines       int   `json:"duplicate_lines"`
	DuplicateLineNumbers []int `json:"duplicate_line_numbers"`
	PendingLines         int   `json:"pending_lines"`
	Reversals            int   `json:"reversals"`
}

// renderStatementImport answers 201 when something was stored, 200 for a
// re-import that stored nothing new.
func rcRenderStatementImport(v any) (int, any) {
	res := v.(reconcile.ImportResult)
	st, b := res.Statement, res.Statement.Balance
	out := rcStatementJSON{ID: st.ID, StatementID: st.Ref, Account: st.AccountCode, Format: st.Format, IBAN: st.IBAN, Currency: st.Currency,
		CreatedAt: st.BankCreatedAt, From: st.From, To: st.To, LineCount: st.LineCount, ImportedAt: st.ImportedAt,
		BalanceCheck: rcBalanceCheckJSON{Status: b.Status, Opening: rcOptAmount(b.Opening, st.Currency), BookedTotal: rcFmtAmount(b.BookedTotal, st.Currency),
			ExpectedClosing: rcOptAmount(b.Expected(), st.Currency), Closing: rcOptAmount(b.Closing, st.Currency), Difference: rcOptAmount(b.Difference, st.Currency)},
		NewStatement: res.NewStatement, Lines: res.Lines, NewLines: res.NewLines, ExistingLines: res.ExistingLines, DuplicateLines: res.DuplicateLines,
		DuplicateLineNumbers: nonNilInts(res.DuplicateLineNumbers),
		PendingLines:         res.PendingLines, Reversals: res.Reversals}
	if res.NewStatement || res.NewLines > 0 {
		return http.StatusCreated, out
	}
	return http.StatusOK, out
}

func (s *Server) createRun(r *http.Request, body []byte) (any, error) {
	var in reconcile.RunRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return s.reconcile.Run(r.Context(), principal(r).TenantID, in)
}

type rcLineJSON struct {
	ID           uuid.UUID `json:"id"`
	StatementID  uuid.UUID `json:"statement_id"`
	EntryRef     string    `json:"entry_ref"`
	Amount       string    `json:"amount"`
	Currency     string    `json:"currency"`
	Date         string    `json:"date"`
	Reversal     bool      `json:"reversal"`
	EndToEndID   string    `json:"end_to_end_id,omitempty"`
	AcctSvcrRef  string    `json:"acct_svcr_ref,omitempty"`
	Reference    string    `json:"reference,omitempty"`
	Description  string    `json:"description,omitempty"`
	Counterparty string    `json:"counterparty,omitempty"`
	AgeDays      *int      `json:"age_days,omitempty"`
}

type rcPostingJSON struct {
	ID        string    `json:"id"`
	EntryID   uuid.UUID `json:"entry_id"`
	Amount    string    `json:"amount"`
	Currency  string    `json:"currency"`
	BookedAt  time.Time `json:"booked_at"`
	Reference string    `json:"reference"`
	Kind      string    `json:"kind"`
	AgeDays   *int      `json:"age_days,omitempty"`
}

type rcMatchJSON struct {
	ID           uuid.UUID       `json:"id"`
	RunID        *uuid.UUID      `json:"run_id"`
	Rule         string          `json:"rule"`
	LineCount    int             `json:"line_count"`
	PostingCount int             `json:"posting_count"`
	Lines        []rcLineJSON    `json:"lines"`
	Postings     []rcPostingJSON `json:"postings"`
	LineTotal    string          `json:"line_total"`
	PostingTotal string          `json:"posting_total"`
	Difference   string          `json:"difference"`
	LagDays      int             `json:"lag_days"`
	Note         string          `json:"note,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	DeletedAt    *time.Time      `json:"deleted_at,omitempty"`
}

// lineView shows a statement line; the counterparty is personal data and
// is masked.
func rcLineView(l reconcile.LineItem, aged bool) rcLineJSON {
	out := rcLineJSON{ID: l.ID, StatementID: l.StatementID, EntryRef: l.EntryRef, Amount: rcFmtAmount(l.Amount, l.Currency), Currency: l.Currency,
		Date: l.Date.Format(time.DateOnly), Reversal: l.Reversal, EndToEndID: l.EndToEndID, AcctSvcrRef: l.AcctSvcrRef, Reference: l.Reference,
		Description: l.Description, Counterparty: reconcile.MaskName(l.Counterparty)}
	if aged {
		out.AgeDays = &l.AgeDays
	}
	return out
}

func rcPostingView(p reconcile.PostingItem, aged bool) rcPostingJSON {
	out := rcPostingJSON{ID: p.ID.String(), EntryID: p.ID.EntryID, Amount: rcFmtAmount(p.Amount, p.Currency), Currency: p.Currency,
		BookedAt: p.BookedAt, Reference: p.Reference, Kind: p.Kind}
	if aged {
		out.AgeDays = &p.AgeDays
	}
	return out
}

func rcMatchView(m reconcile.Match, currency string) rcMatchJSON {
	if currency == "" {
		for _, l := range m.Lines {
			currency = l.Currency
		}
	}
	out := rcMatchJSON{ID: m.ID, RunID: m.RunID, Rule: m.Rule, LineCount: m.LineCount, PostingCount: m.PostingCount,
		Lines: []rcLineJSON{}, Postings: []rcPostingJSON{}, LineTotal: rcFmtAmount(m.LineTotal, currency), PostingTotal: rcFmtAmount(m.PostingTotal, currency),
		Difference: rcFmtAmount(m.Difference, currency), LagDays: m.LagDays, Note: m.Note, CreatedAt: m.CreatedAt, DeletedAt: m.DeletedAt}
	for _, l := range m.Lines {
		out.Lines = append(out.Lines, rcLineView(l, false))
	}
	for _, p := range m.Postings {
		out.Postings = append(out.Postings, rcPostingView(p, false))
	}
	return out
}

type rcAgingJSON struct {
	Days0To3  int `json:"0-3"`
	Days4To7  int `json:"4-7"`
	Days8To30 int `json:"8-30"`
	Over30    int `json:"31+"`
}

type rcRunJSON struct {
	ID                    *uuid.UUID      `json:"id"`
	DryRun                bool            `json:"dry_run"`
	Account               string          `json:"account"`
	Currency              string          `json:"currency"`
	From                  string          `json:"from"`
	To                    string          `json:"to"`
	AsOf                  time.Time       `json:"as_of"`
	DateWindowDays        int             `json:"date_window_days"`
	FeeTolerance          string          `json:"fee_tolerance"`
	Lines                 int             `json:"lines"`
	Postings              int             `json:"postings"`
	MatchCount            int             `json:"match_count"`
	MatchedLines          int             `json:"matched_lines"`
	MatchedPostings       int             `json:"matched_postings"`
	ByRule                map[string]int  `json:"matches_by_rule"`
	UnmatchedLineCount    int             `json:"unmatched_line_count"`
	UnmatchedPostingCount int             `json:"unmatched_posting_count"`
	LineAging             rcAgingJSON     `json:"unmatched_line_aging"`
	PostingAging          rcAgingJSON     `json:"unmatched_posting_aging"`
	SearchTruncated       bool            `json:"search_truncated"`
	ListsTruncated        bool            `json:"lists_truncated"`
	Matches               []rcMatchJSON   `json:"matches"`
	UnmatchedLines        []rcLineJSON    `json:"unmatched_lines"`
	UnmatchedPostings     []rcPostingJSON `json:"unmatched_postings"`
}

// renderRun answers 201 for a stored run, 200 for a dry run.
func rcRenderRun(v any) (int, any) {
	res := v.(reconcile.RunResult)
	out := rcRunJSON{ID: res.RunID, DryRun: res.DryRun, Account: res.Account, Currency: res.Currency, From: res.From.Format(time.DateOnly),
		To: res.To.Format(time.DateOnly), AsOf: res.AsOf, DateWindowDays: res.WindowDays, FeeTolerance: rcFmtAmount(res.FeeTolerance, res.Currency),
		Lines: res.Lines, Postings: res.Postings, MatchCount: res.MatchCount, MatchedLines: res.MatchedLines, MatchedPostings: res.MatchedPostings,
		ByRule: res.ByRule, UnmatchedLineCount: res.UnmatchedLineCount, UnmatchedPostingCount: res.UnmatchedPostingCount,
		LineAging:       rcAgingJSON(res.LineAging),
		PostingAging:    rcAgingJSON(res.PostingAging),
		SearchTruncated: res.SearchTruncated, ListsTruncated: res.ListsTruncated,
		Matches: []rcMatchJSON{}, UnmatchedLines: []rcLineJSON{}, UnmatchedPostings: []rcPostingJSON{}}
	for _, m := range res.Matches {
		out.Matches = append(out.Matches, rcMatchView(m, res.Currency))
	}
	for _, l := range res.UnmatchedLines {
		out.UnmatchedLines = append(out.UnmatchedLines, rcLineView(l, true))
	}
	for _, p := range res.UnmatchedPostings {
		out.UnmatchedPostings = append(out.UnmatchedPostings, rcPostingView(p, true))
	}
	if res.DryRun {
		return http.StatusOK, out
	}
	return http.StatusCreated, out
}

func (s *Server) createMatch(r *http.Request, body []byte) (any, error) {
	var in reconcile.ManualMatchRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return s.reconcile.CreateMatch(r.Context(), principal(r).TenantID, in)
}

func rcRenderMatchCreated(v any) (int, any) {
	return http.StatusCreated, rcMatchView(v.(reconcile.Match), "")
}
func rcRenderMatch(v any) (int, any) { return http.StatusOK, rcMatchView(v.(reconcile.Match), "") }

func (s *Server) getMatch(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	m, err := s.reconcile.GetMatch(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	return rcMatchView(m, ""), nil
}

// deleteMatch answers DELETE /v1/reconciliation/matches/{id}: the lines
// and postings are open again; audited like every write. It takes no
// fields: the body, if any, is an empty JSON object.
func (s *Server) deleteMatch(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if err := decodeNoFields(body); err != nil {
		return nil, err
	}
	return s.reconcile.DeleteMatch(r.Context(), principal(r).TenantID, id)
}

// nonNilInts answers an empty list as [] rather than null.
func nonNilInts(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}
