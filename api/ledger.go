package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

// ledgerRoutes is the ledger's block of the route table: finance and admin
// only. POST /v1/ledger/verify changes nothing, so it is served like a read
// (no Idempotency-Key, no audit record).
func (s *Server) ledgerRoutes() []route {
	return []route{
		{method: http.MethodGet, path: "/v1/ledger/accounts", roles: finance, read: s.listLedgerAccounts},
		{method: http.MethodPost, path: "/v1/ledger/accounts", roles: finance, write: s.createLedgerAccount, render: renderLedgerAccount, idempotent: true},
		{method: http.MethodGet, path: "/v1/ledger/accounts/{id}", roles: finance, read: s.getLedgerAccount},
		{method: http.MethodGet, path: "/v1/ledger/accounts/{id}/balance", roles: finance, read: s.getLedgerBalance},
		{method: http.MethodGet, path: "/v1/ledger/accounts/{id}/postings", roles: finance, read: s.getLedgerStatement},
		{method: http.MethodPost, path: "/v1/ledger/entries", roles: finance, write: s.postLedgerAdjustment, render: renderLedgerEntry, idempotent: true},
		{method: http.MethodGet, path: "/v1/ledger/entries/{id}", roles: finance, read: s.getLedgerEntry},
		{method: http.MethodPost, path: "/v1/ledger/entries/{id}/reverse", roles: finance, write: s.reverseLedgerEntry, render: renderLedgerEntry, idempotent: true},
		{method: http.MethodGet, path: "/v1/ledger/trial-balance", roles: finance, read: s.getTrialBalance},
		{method: http.MethodPost, path: "/v1/ledger/verify", roles: finance, serve: s.serveLedgerVerify},
	}
}

// amountString prints d with cur's exact decimals.
func amountString(d decimal.Decimal, cur string) string {
	c, err := money.Lookup(cur)
	if err != nil {
		return d.String()
	}
	return money.Format(d, c)
}

type ledgerAccountJSON struct {
	ID             uuid.UUID         `json:"id"`
	Code           string            `json:"code"`
	Currency       string            `json:"currency"`
	Kind           ledger.Kind       `json:"kind"`
	NormalSide     ledger.Side       `json:"normal_side"`
	NoOverdraft    bool              `json:"no_overdraft"`
	OverdraftLimit string            `json:"overdraft_limit"`
	Shards         int               `json:"shards"`
	Metadata       map[string]string `json:"metadata"`
	CreatedAt      time.Time         `json:"created_at"`
	ClosedAt       *time.Time        `json:"closed_at,omitempty"`
}

func accountJSON(a ledger.Account) ledgerAccountJSON {
	return ledgerAccountJSON{ID: a.ID, Code: a.Code, Currency: a.Currency, Kind: a.Kind, NormalSide: a.NormalSide,
		NoOverdraft: a.NoOverdraft, OverdraftLimit: amountString(a.OverdraftLimit, a.Currency), Shards: a.Shards,
		Metadata: a.Metadata, CreatedAt: a.CreatedAt, ClosedAt: a.ClosedAt}
}

type ledgerPostingJSON struct {
	AccountID   uuid.UUID   `json:"account_id"`
	AccountCode string      `json:"account_code"`
	Direction   ledger.Side `json:"direction"`
	Amount      string      `json:"amount"`
	Currency    string      `json:"currency"`
	// BalanceAfter is the running balance of the posting's balance row
	// (the account's for a single-shard account, a shard's for a hot
	// one); absent on pending postings.
	BalanceAfter string    `json:"balance_after,omitempty"`
	Shard        int       `json:"shard"`
	CreatedAt    time.Time `json:"created_at"`
}

type ledgerEntryJSON struct {
	ID          uuid.UUID           `json:"id"`
	Kind        string              `json:"kind"`
	Description string              `json:"description"`
	Reference   string              `json:"reference"`
	Status      string              `json:"status"`
	EffectiveAt time.Time           `json:"effective_at"`
	CreatedAt   time.Time           `json:"created_at"`
	Metadata    map[string]string   `json:"metadata"`
	ReversesID  *uuid.UUID          `json:"reverses_id,omitempty"`
	PendingID   *uuid.UUID          `json:"pending_id,omitempty"`
	ExpiresAt   *time.Time          `json:"expires_at,omitempty"`
	Postings    []ledgerPostingJSON `json:"postings"`
}

// ResourceID names the entry for the audit log.
func (e ledgerEntryJSON) ResourceID() string { return e.ID.String() }

func entryJSON(e ledger.Entry) ledgerEntryJSON {
	out := ledgerEntryJSON{ID: e.ID, Kind: e.Kind, Description: e.Description, Reference: e.Reference, Status: e.Status,
		EffectiveAt: e.EffectiveAt, CreatedAt: e.CreatedAt, Metadata: e.Metadata, ReversesID: e.ReversesID,
		PendingID: e.PendingID, ExpiresAt: e.ExpiresAt, Postings: []ledgerPostingJSON{}}
	pending := e.Status != ledger.StatusPosted
	for _, p := range e.Postings {
		pj := ledgerPostingJSON{AccountID: p.AccountID, AccountCode: p.AccountCode, Direction: p.Direction,
			Amount: amountString(p.Amount, p.Currency), Currency: p.Currency, Shard: p.Shard, CreatedAt: p.CreatedAt}
		if !pending {
			pj.BalanceAfter = amountString(p.BalanceAfter, p.Currency)
		}
		out.Postings = append(out.Postings, pj)
	}
	return out
}

func renderLedgerAccount(v any) (int, any) {
	return http.StatusCreated, accountJSON(v.(ledger.Account))
}

func renderLedgerEntry(v any) (int, any) { return http.StatusCreated, entryJSON(v.(ledger.Entry)) }

// timeParam reads an optional RFC 3339 query parameter.
func timeParam(r *http.Request, name string) (*time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fieldProblem(http.StatusUnprocessableEntity, valid.CodeValidationFailed, name, "must be an RFC 3339 time, e.g. 2026-03-02T10:00:00Z")
	}
	t = t.UTC()
	return &t, nil
}

// currencyParam reads an optional ISO 4217 code.
func currencyParam(r *http.Request) (string, error) {
	cur := r.URL.Query().Get("currency")
	if cur == "" {
		return "", nil
	}
	if _, err := money.Lookup(cur); err != nil {
		return "", valid.FieldCode("unknown_currency", "currency", "is not an ISO 4217 currency")
	}
	return cur, nil
}

func (s *Server) listLedgerAccounts(r *http.Request) (any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return nil, err
	}
	cur, err := currencyParam(r)
	if err != nil {
		return nil, err
	}
	var after string
	if err := decodeCursor(r, &after); err != nil {
		return nil, err
	}
	accts, err := s.ledger.ListAccounts(r.Context(), principal(r).TenantID, ledger.AccountFilter{
		CodePrefix: r.URL.Query().Get("code_prefix"), Currency: cur, AfterCode: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	page := Page[ledgerAccountJSON]{Data: []ledgerAccountJSON{}}
	for _, a := range accts {
		page.Data = append(page.Data, accountJSON(a))
	}
	if len(accts) == limit {
		page.NextCursor = encodeCursor(accts[len(accts)-1].Code)
	}
	return page, nil
}

func (s *Server) getLedgerAccount(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	a, err := s.ledger.GetAccount(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	return accountJSON(a), nil
}

type ledgerBalanceJSON struct {
	AccountID      uuid.UUID  `json:"account_id"`
	Currency       string     `json:"currency"`
	AsOf           *time.Time `json:"as_of,omitempty"`
	Posted         string     `json:"posted"`
	PendingDebits  string     `json:"pending_debits,omitempty"`
	PendingCredits string     `json:"pending_credits,omitempty"`
	Available      string     `json:"available,omitempty"`
}

func (s *Server) getLedgerBalance(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	asOf, err := timeParam(r, "as_of")
	if err != nil {
		return nil, err
	}
	b, err := s.ledger.GetBalance(r.Context(), principal(r).TenantID, id, asOf)
	if err != nil {
		return nil, err
	}
	out := ledgerBalanceJSON{AccountID: b.AccountID, Currency: b.Currency, AsOf: asOf, Posted: amountString(b.Posted, b.Currency)}
	if asOf == nil {
		out.PendingDebits = amountString(b.PendingDebits, b.Currency)
		out.PendingCredits = amountString(b.PendingCredits, b.Currency)
		out.Available = amountString(b.Available, b.Currency)
	}
	return out, nil
}

type statementLineJSON struct {
	EntryID      uuid.UUID   `json:"entry_id"`
	Reference    string      `json:"reference"`
	Kind         string      `json:"kind"`
	Description  string      `json:"description"`
	Direction    ledger.Side `json:"direction"`
	Amount       string      `json:"amount"`
	Currency     string      `json:"currency"`
	BalanceAfter string      `json:"balance_after"`
	CreatedAt    time.Time   `json:"created_at"`
	EffectiveAt  time.Time   `json:"effective_at"`
}

type statementJSON struct {
	AccountID      uuid.UUID           `json:"account_id"`
	Currency       string              `json:"currency"`
	OpeningBalance string              `json:"opening_balance"`
	Horizon        *time.Time          `json:"horizon,omitempty"`
	Data           []statementLineJSON `json:"data"`
	NextCursor     string              `json:"next_cursor,omitempty"`
}

func (s *Server) getLedgerStatement(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(r)
	if err != nil {
		return nil, err
	}
	q := ledger.StatementQuery{Limit: limit}
	if q.From, err = timeParam(r, "from"); err != nil {
		return nil, err
	}
	if q.To, err = timeParam(r, "to"); err != nil {
		return nil, err
	}
	if r.URL.Query().Get("cursor") != "" {
		q.Cursor = &ledger.StatementCursor{}
		if err := decodeCursor(r, q.Cursor); err != nil {
			return nil, err
		}
	}
	page, err := s.ledger.Statement(r.Context(), principal(r).TenantID, id, q)
	if err != nil {
		return nil, err
	}
	cur := page.Account.Currency
	out := statementJSON{AccountID: id, Currency: cur, OpeningBalance: amountString(page.Opening, cur), Horizon: page.Horizon,
		Data: []statementLineJSON{}}
	for _, l := range page.Lines {
		out.Data = append(out.Data, statementLineJSON{EntryID: l.EntryID, Reference: l.Reference, Kind: l.Kind, Description: l.Description,
			Direction: l.Direction, Amount: amountString(l.Amount, cur), Currency: cur, BalanceAfter: amountString(l.BalanceAfter, cur),
			CreatedAt: l.CreatedAt, EffectiveAt: l.EffectiveAt})
	}
	if page.Next != nil {
		out.NextCursor = encodeCursor(page.Next)
	}
	return out, nil
}

func (s *Server) getLedgerEntry(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	e, err := s.ledger.GetEntry(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	return entryJSON(e), nil
}

type trialLineJSON struct {
	AccountID  uuid.UUID   `json:"account_id"`
	Code       string      `json:"code"`
	Kind       ledger.Kind `json:"kind"`
	NormalSide ledger.Side `json:"normal_side"`
	Balance    string      `json:"balance"`
}

type trialCurrencyJSON struct {
	Currency    string          `json:"currency"`
	DebitTotal  string          `json:"debit_total"`
	CreditTotal string          `json:"credit_total"`
	Balanced    bool            `json:"balanced"`
	Truncated   bool            `json:"truncated,omitempty"`
	Accounts    []trialLineJSON `json:"accounts"`
}

type trialBalanceJSON struct {
	AsOf *time.Time          `json:"as_of,omitempty"`
	Data []trialCurrencyJSON `json:"data"`
}

func (s *Server) getTrialBalance(r *http.Request) (any, error) {
	asOf, err := timeParam(r, "as_of")
	if err != nil {
		return nil, err
	}
	cur, err := currencyParam(r)
	if err != nil {
		return nil, err
	}
	tb, err := s.ledger.TrialBalance(r.Context(), principal(r).TenantID, asOf, cur)
	if err != nil {
		return nil, err
	}
	out := trialBalanceJSON{AsOf: asOf, Data: []trialCurrencyJSON{}}
	for _, c := range tb.Currencies {
		tc := trialCurrencyJSON{Currency: c.Currency, DebitTotal: amountString(c.DebitTotal, c.Currency),
			CreditTotal: amountString(c.CreditTotal, c.Currency), Balanced: c.Balanced, Truncated: c.Truncated, Accounts: []trialLineJSON{}}
		for _, l := range c.Lines {
			tc.Accounts = append(tc.Accounts, trialLineJSON{AccountID: l.AccountID, Code: l.Code, Kind: l.Kind, NormalSide: l.NormalSide,
				Balance: amountString(l.Balance, c.Currency)})
		}
		out.Data = append(out.Data, tc)
	}
	return out, nil
}

type createLedgerAccountRequest struct {
	Code           string            `json:"code"`
	Currency       string            `json:"currency"`
	Kind           string            `json:"kind"`
	NoOverdraft    bool              `json:"no_overdraft"`
	OverdraftLimit string            `json:"overdraft_limit"`
	Shards         int               `json:"shards"`
	Metadata       map[string]string `json:"metadata"`
}

func (s *Server) createLedgerAccount(r *http.Request, body []byte) (any, error) {
	var in createLedgerAccountRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	spec := ledger.AccountSpec{TenantID: principal(r).TenantID, Code: in.Code, Currency: in.Currency, Kind: ledger.Kind(in.Kind),
		NoOverdraft: in.NoOverdraft, Shards: in.Shards, Metadata: in.Metadata}
	var errs valid.Errors
	c, err := money.Lookup(in.Currency)
	if err != nil {
		errs.AddCode("unknown_currency", "currency", "is not an ISO 4217 currency")
	}
	if in.OverdraftLimit != "" && err == nil {
		if spec.OverdraftLimit, err = money.ParseAmount(in.OverdraftLimit, c); err != nil {
			errs.AddCode("invalid_amount", "overdraft_limit", strings.TrimPrefix(err.Error(), "invalid amount: "))
		}
	}
	switch ledger.Kind(in.Kind) {
	case ledger.KindAsset, ledger.KindLiability, ledger.KindEquity, ledger.KindRevenue, ledger.KindExpense:
	default:
		errs.Add("kind", "must be asset, liability, equity, revenue or expense")
	}
	if in.Shards < 0 || in.Shards > ledger.MaxShards {
		errs.Add("shards", fmt.Sprintf("must be from 0 to %d", ledger.MaxShards))
	}
	if in.Code == "" || len(in.Code) > ledger.MaxCodeLength {
		errs.Add("code", fmt.Sprintf("1 to %d characters required", ledger.MaxCodeLength))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, valid.Field("(body)", strings.TrimPrefix(err.Error(), "ledger: invalid entry: "))
	}
	return s.ledger.CreateAccount(r.Context(), spec)
}

type postingRequest struct {
	AccountID string `json:"account_id"`
	Direction string `json:"direction"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
}

type adjustmentRequest struct {
	Reference   string            `json:"reference"`
	Description string            `json:"description"`
	Reason      string            `json:"reason"`
	EffectiveAt *time.Time        `json:"effective_at"`
	Metadata    map[string]string `json:"metadata"`
	Postings    []postingRequest  `json:"postings"`
}

// command checks the shape of an adjustment and converts it.
func (in adjustmentRequest) command(tenant uuid.UUID) (ledger.Adjustment, error) {
	adj := ledger.Adjustment{TenantID: tenant, Reference: in.Reference, Description: in.Description, Reason: in.Reason,
		EffectiveAt: in.EffectiveAt, Metadata: in.Metadata}
	var errs valid.Errors
	if in.Reference == "" || len(in.Reference) > ledger.MaxReferenceLength {
		errs.Add("reference", fmt.Sprintf("1 to %d characters required", ledger.MaxReferenceLength))
	}
	if strings.TrimSpace(in.Reason) == "" || len(in.Reason) > ledger.MaxMetadataLength {
		errs.Add("reason", fmt.Sprintf("a reason of 1 to %d characters is required for a manual entry", ledger.MaxMetadataLength))
	}
	if len(in.Description) > ledger.MaxDescriptionLength {
		errs.Add("description", fmt.Sprintf("at most %d characters", ledger.MaxDescriptionLength))
	}
	if len(in.Postings) < 2 || len(in.Postings) > ledger.MaxPostings {
		errs.Add("postings", fmt.Sprintf("2 to %d postings required", ledger.MaxPostings))
	}
	for i, p := range in.Postings {
		f := fmt.Sprintf("postings[%d].", i)
		var out ledger.Posting
		id, err := uuid.Parse(p.AccountID)
		if err != nil {
			errs.Add(f+"account_id", "must be an account id")
		}
		out.AccountID = id
		out.Direction = ledger.Side(p.Direction)
		if out.Direction != ledger.SideDebit && out.Direction != ledger.SideCredit {
			errs.Add(f+"direction", "must be debit or credit")
		}
		c, err := money.Lookup(p.Currency)
		if err != nil {
			errs.AddCode("unknown_currency", f+"currency", "is not an ISO 4217 currency")
		} else {
			out.Currency = c.Code
			out.Amount, err = money.ParseAmount(p.Amount, c)
			if err != nil {
				errs.AddCode("invalid_amount", f+"amount", strings.TrimPrefix(err.Error(), "invalid amount: "))
			} else if !out.Amount.IsPositive() {
				errs.AddCode("invalid_amount", f+"amount", "must be greater than zero")
			}
		}
		adj.Postings = append(adj.Postings, out)
	}
	return adj, errs.Err()
}

func (s *Server) postLedgerAdjustment(r *http.Request, body []byte) (any, error) {
	var in adjustmentRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	adj, err := in.command(principal(r).TenantID)
	if err != nil {
		return nil, err
	}
	return s.ledger.PostAdjustment(r.Context(), adj)
}

type reverseRequest struct {
	Reference   string `json:"reference"`
	Description string `json:"description"`
}

func (s *Server) reverseLedgerEntry(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in reverseRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
	}
	if len(in.Reference) > ledger.MaxReferenceLength {
		return nil, valid.Field("reference", fmt.Sprintf("at most %d characters", ledger.MaxReferenceLength))
	}
	if len(in.Description) > ledger.MaxDescriptionLength {
		return nil, valid.Field("description", fmt.Sprintf("at most %d characters", ledger.MaxDescriptionLength))
	}
	return s.ledger.ReverseEntry(r.Context(), principal(r).TenantID, id, in.Reference, in.Description)
}

type verifyIssueJSON struct {
	Kind        string     `json:"kind"`
	AccountID   *uuid.UUID `json:"account_id,omitempty"`
	AccountCode string     `json:"account_code,omitempty"`
	EntryID     *uuid.UUID `json:"entry_id,omitempty"`
	BlockID     *uuid.UUID `json:"block_id,omitempty"`
	BlockHeight int64      `json:"block_height,omitempty"`
	Detail      string     `json:"detail"`
}

type verifyJSON struct {
	OK        bool              `json:"ok"`
	Accounts  int64             `json:"accounts"`
	Entries   int64             `json:"entries"`
	Postings  int64             `json:"postings"`
	Blocks    int64             `json:"blocks"`
	Issues    []verifyIssueJSON `json:"issues"`
	Truncated bool              `json:"truncated,omitempty"`
}

// serveLedgerVerify re-derives the caller's ledger and reports what does
// not add up. It changes nothing: no Idempotency-Key, no audit record. It
// takes no fields: the body, if any, is an empty JSON object.
func (s *Server) serveLedgerVerify(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxBodyBytes)
	if err == nil {
		_, err = checkContentType(r, body, []string{"application/json"})
	}
	if err == nil {
		err = decodeNoFields(body)
	}
	if err != nil {
		writeProblem(w, problemFor(s.log, r, err))
		return
	}
	tenant := principal(r).TenantID
	rep, err := s.ledger.Verify(r.Context(), &tenant)
	if err != nil {
		writeProblem(w, problemFor(s.log, r, err))
		return
	}
	out := verifyJSON{OK: len(rep.Issues) == 0 && !rep.Truncated, Accounts: rep.Accounts, Entries: rep.Entries,
		Postings: rep.Postings, Blocks: rep.Blocks, Issues: []verifyIssueJSON{}, Truncated: rep.Truncated}
	for _, is := range rep.Issues {
		out.Issues = append(out.Issues, verifyIssueJSON{Kind: is.Kind, AccountID: is.AccountID, AccountCode: is.AccountCode,
			EntryID: is.EntryID, BlockID: is.BlockID, BlockHeight: is.BlockHeight, Detail: is.Detail})
	}
	writeJSON(w, http.StatusOK, out)
}
