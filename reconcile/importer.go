package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

// Balance check outcomes of an imported statement.
const (
	BalanceTied      = "tied"      // opening + booked lines = closing
	BalanceMismatch  = "mismatch"  // they differ; Difference = closing - (opening + booked)
	BalanceUnchecked = "unchecked" // the file has no opening and closing balance (CSV)
)

// ImportRequest is a statement file to import for a ledger account.
type ImportRequest struct {
	// Account is the code of the tenant's ledger (cash) account the
	// statement belongs to, e.g. "cash:psp:EUR".
	Account string
	// Format is FormatCamt053 or FormatCSV.
	Format string
	Data   []byte
	// CSV is the column mapping of a CSV file (see ParseCSVMappingParams).
	// A missing default currency is the account's currency.
	CSV CSVMappingParams
}

// BalanceCheck is the statement's opening + booked lines = closing check.
type BalanceCheck struct {
	Status      string
	Opening     *decimal.Decimal
	Closing     *decimal.Decimal
	BookedTotal decimal.Decimal
	// Difference is closing - (opening + booked total); nil unless checked.
	Difference *decimal.Decimal
}

// Expected is opening + booked total, nil unless checked.
func (b BalanceCheck) Expected() *decimal.Decimal {
	if b.Opening == nil {
		return nil
	}
	e := b.Opening.Add(b.BookedTotal)
	return &e
}

// StatementRecord is a stored statement.
type StatementRecord struct {
	ID            uuid.UUID
	AccountID     uuid.UUID
	AccountCode   string
	Ref           string // the statement's own id
	Format        string
	IBAN          string
	Currency      string
	BankCreatedAt *time.Time
	From, To      *time.Time
	Balance       BalanceCheck
	LineCount     int
	ImportedAt    time.Time
}

// ImportResult says what an import stored.
type ImportResult struct {
	Statement StatementRecord
	// NewStatement is false when the statement had been imported before.
	NewStatement bool
	// Lines in the file; NewLines of them were stored now, ExistingLines
	// were stored before (same statement, same entry reference), and
	// DuplicateLines are held by another statement of the account and were
	// not stored (CSV with SkipDuplicates: an export overlapping an earlier
	// one); DuplicateLineNumbers lists the first MaxReportedDuplicates of
	// their data row numbers (StatementLine.Index: 1 is the first row).
	Lines, NewLines, ExistingLines, DuplicateLines int
	DuplicateLineNumbers                           []int
	PendingLines, Reversals                        int
}

// ResourceID names the statement for the audit log.
func (r ImportResult) ResourceID() string { return r.Statement.ID.String() }

// ImportStatement parses a camt.053 or CSV statement and stores it with its
// lines for the account, all or nothing, in one transaction. Importing the
// same statement again stores nothing new (ImportResult.NewLines = 0). A
// statement whose balances do not tie is stored with the mismatch, not
// rejected. A file over the parser's limits is a *ParseError wrapping
// ErrTooLarge; one that cannot be read, or with an amount that has more
// decimals than the account's currency, is *InvalidStatementError; lines in
// another currency than the account's are a validation error
// (currency_mismatch); a statement id imported before with other balances,
// other entry references or other amounts under the same entry references
// is ErrStatementConflict.
func (s *Service) ImportStatement(ctx context.Context, tenant uuid.UUID, req ImportRequest) (ImportResult, error) {
	acct, err := s.account(ctx, s.DB.Pool, tenant, req.Account)
	if err != nil {
		return ImportResult{}, err
	}
	st, err := parseStatement(req, acct.Currency)
	if err != nil {
		return ImportResult{}, err
	}
	if err := checkStatement(req.Format, st, acct); err != nil {
		return ImportResult{}, err
	}
	keys := dedupeKeys(req.Format, st)
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (ImportResult, error) {
		now := s.Clock.Now()
		kept, keptKeys, dups := st, keys, []int(nil)
		if req.Format == FormatCSV && req.CSV.SkipDuplicates {
			var err error
			if kept, keptKeys, dups, err = withoutStoredElsewhere(ctx, tx, acct.ID, st, keys); err != nil {
				return ImportResult{}, err
			}
		}
		// The booked total is of the lines stored.
		check := balanceCheck(kept)
		rec, isNew, err := upsertStatement(ctx, tx, tenant, acct, req.Format, kept, check, now)
		if err != nil {
			return ImportResult{}, err
		}
		if !isNew {
			if err := checkSameEntries(ctx, tx, rec, st, kept); err != nil {
				return ImportResult{}, err
			}
		}
		added, err := insertLines(ctx, tx, tenant, rec, kept, keptKeys, now)
		if err != nil {
			return ImportResult{}, err
		}
		if !isNew && added > 0 { // not after checkSameEntries
			return ImportResult{}, fmt.Errorf("reconcile: statement %q: %d lines added to the statement imported before", st.ID, added)
		}
		res := ImportResult{Statement: rec, NewStatement: isNew, Lines: len(st.Lines), NewLines: added, ExistingLines: len(kept.Lines) - added,
			DuplicateLines: len(dups), DuplicateLineNumbers: dups[:min(len(dups), MaxReportedDuplicates)]}
		for _, l := range st.Lines {
			if l.Status == StatusPending {
				res.PendingLines++
			}
			if l.Reversal {
				res.Reversals++
			}
		}
		return res, nil
	})
}

// parseStatement runs the parser of the request's format.
func parseStatement(req ImportRequest, accountCurrency string) (Statement, error) {
	var st Statement
	var err error
	switch req.Format {
	case FormatCamt053:
		st, err = ParseCamt053(bytes.NewReader(req.Data))
	case FormatCSV:
		m := req.CSV.Mapping
		if !req.CSV.Columns {
			m = DefaultCSVMapping(req.Data, m)
		}
		if m.DefaultCurrency == "" {
			m.DefaultCurrency = accountCurrency
		}
		st, err = ParseCSVStatement(bytes.NewReader(req.Data), m)
	default:
		return Statement{}, valid.Field("format", fmt.Sprintf("%q is not a statement format (camt.053, csv)", req.Format))
	}
	var me *MappingError
	if errors.As(err, &me) {
		return Statement{}, mappingError(me)
	}
	if errors.Is(err, ErrTooLarge) { // too large, not malformed: the API answers 413
		return Statement{}, err
	}
	if err != nil {
		return Statement{}, &InvalidStatementError{Err: err}
	}
	return st, nil
}

// checkStatement applies the checks the parsers leave to the caller: the
// currency of the account, amounts exact at its minor units, the length of
// references. A line amount with more decimals than the currency has
// ("1000.5" JPY) could never match a posting, which the ledger keeps
// exact: it is an invalid statement naming the line's amount as the
// parsers name a malformed one (camt.053 element Ntry[n]/Amt; CSV the
// file line, the header being line 1, and the amount's column), never
// rounded.
func checkStatement(format string, st Statement, acct ledger.Account) error {
	if len(st.ID) > maxRefLength {
		return &InvalidStatementError{Err: &ParseError{Element: "Stmt/Id", Reason: fmt.Sprintf("longer than %d characters", maxRefLength)}}
	}
	if st.Currency != "" && st.Currency != acct.Currency {
		return valid.FieldCode("currency_mismatch", "account", fmt.Sprintf("the statement is in %s, account %s in %s", st.Currency, acct.Code, acct.Currency))
	}
	cur, err := money.LookupHistoric(acct.Currency)
	if err != nil { // ledger accounts are opened in known currencies
		return fmt.Errorf("reconcile: account %s: %w", acct.Code, err)
	}
	for _, l := range st.Lines {
		if l.Currency != acct.Currency {
			return valid.FieldCode("currency_mismatch", "account", fmt.Sprintf("statement line %d is in %s, account %s in %s", l.Index, l.Currency, acct.Code, acct.Currency))
		}
		if money.CheckExact(l.Amount, cur) != nil {
			pe := &ParseError{Element: fmt.Sprintf("Ntry[%d]/Amt", l.Index),
				Reason: fmt.Sprintf("amount %s has more than %d decimal places for %s", l.Amount, cur.MinorUnits, cur.Code)}
			if format != FormatCamt053 {
				pe.Line, pe.Element = l.FileLine, l.AmountColumn
			}
			return &InvalidStatementError{Err: pe}
		}
		if len(l.EntryRef) > maxRefLength {
			return &InvalidStatementError{Err: &ParseError{Element: fmt.Sprintf("line %d entry reference", l.Index), Reason: fmt.Sprintf("longer than %d characters", maxRefLength)}}
		}
	}
	return nil
}

// balanceCheck runs Statement.CheckBalances and keeps its outcome.
func balanceCheck(st Statement) BalanceCheck {
	b := BalanceCheck{Status: BalanceUnchecked, Opening: st.OpeningBalance, Closing: st.ClosingBalance, BookedTotal: decimal.Zero}
	for _, l := range st.Lines {
		if l.Status == StatusBooked {
			b.BookedTotal = b.BookedTotal.Add(l.Amount)
		}
	}
	err := st.CheckBalances()
	var mm *BalanceMismatchError
	switch {
	case err == nil:
		b.Status = BalanceTied
		zero := decimal.Zero
		b.Difference = &zero
	case errors.As(err, &mm):
		b.Status = BalanceMismatch
		d := mm.Difference
		b.Difference = &d
	default: // ErrNoBalances (ErrMixedCurrencies cannot happen after checkStatement)
		b.Opening, b.Closing = nil, nil
	}
	return b
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// upsertStatement stores the statement row, or finds the one imported
// before and checks it agrees with the file.
func upsertStatement(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, acct ledger.Account, format string, st Statement,
	check BalanceCheck, now time.Time) (StatementRecord, bool, error) {
	rec := StatementRecord{ID: uuid.Must(uuid.NewV7()), AccountID: acct.ID, AccountCode: acct.Code, Ref: st.ID, Format: format,
		IBAN: st.AccountIBAN, Currency: acct.Currency, BankCreatedAt: optTime(st.CreatedAt), From: optTime(st.FromDate), To: optTime(st.ToDate),
		Balance: check, LineCount: len(st.Lines), ImportedAt: now}
	tag, err := tx.Exec(ctx, `
		INSERT INTO recon_statements (id, tenant_id, account_id, statement_ref, format, iban, currency, bank_created_at, from_at, to_at,
			opening_balance, closing_balance, booked_total, balance_status, balance_difference, line_count, imported_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (tenant_id, account_id, statement_ref) DO NOTHING`,
		rec.ID, tenant, acct.ID, rec.Ref, format, rec.IBAN, rec.Currency, rec.BankCreatedAt, rec.From, rec.To,
		check.Opening, check.Closing, check.BookedTotal, check.Status, check.Difference, rec.LineCount, now)
	if err != nil {
		return StatementRecord{}, false, fmt.Errorf("reconcile: store statement %q: %w", st.ID, err)
	}
	if tag.RowsAffected() == 1 {
		return rec, true, nil
	}
	old, err := loadStatementByRef(ctx, tx, tenant, acct, st.ID)
	if err != nil {
		return StatementRecord{}, false, err
	}
	if !sameBalance(old.Balance.Opening, check.Opening) || !sameBalance(old.Balance.Closing, check.Closing) {
		return StatementRecord{}, false, fmt.Errorf("%w: statement %q was imported on %s with other balances", ErrStatementConflict, st.ID, old.ImportedAt.Format(time.RFC3339))
	}
	return old, false, nil
}

func sameBalance(a, b *decimal.Decimal) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

const statementColumns = `id, account_id, statement_ref, format, iban, currency, bank_created_at, from_at, to_at,
	opening_balance, closing_balance, booked_total, balance_status, balance_difference, line_count, imported_at`

func scanStatement(row pgx.Row, code string) (StatementRecord, error) {
	var r StatementRecord
	var n int64
	err := row.Scan(&r.ID, &r.AccountID, &r.Ref, &r.Format, &r.IBAN, &r.Currency, &r.BankCreatedAt, &r.From, &r.To,
		&r.Balance.Opening, &r.Balance.Closing, &r.Balance.BookedTotal, &r.Balance.Status, &r.Balance.Difference, &n, &r.ImportedAt)
	r.LineCount, r.AccountCode = int(n), code
	return r, err
}

func loadStatementByRef(ctx context.Context, q db.Querier, tenant uuid.UUID, acct ledger.Account, ref string) (StatementRecord, error) {
	r, err := scanStatement(q.QueryRow(ctx, `SELECT `+statementColumns+` FROM recon_statements
		WHERE tenant_id = $1 AND account_id = $2 AND statement_ref = $3`, tenant, acct.ID, ref), acct.Code)
	if err != nil {
		return StatementRecord{}, fmt.Errorf("reconcile: statement %q: %w", ref, err)
	}
	return r, nil
}

// lineDate is the date a line is matched on: booking date, else value
// date, else the statement's date, else the import date (UTC).
func lineDate(l StatementLine, st Statement, now time.Time) time.Time {
	for _, t := range []time.Time{l.BookingDate, l.ValueDate, st.ToDate, st.FromDate, st.CreatedAt} {
		if !t.IsZero() {
			return t
		}
	}
	return now.UTC()
}

// dateText is t's date in t's own zone offset, the one the file stated:
// a bank's 2026-03-02T23:30:00-05:00 is booked on 2026-03-02, although it
// is 2026-03-03 in UTC. Dates without a zone are parsed as UTC.
func dateText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

// insertLines stores the lines not stored yet (ON CONFLICT on the
// statement and entry reference) in batches, with their dedupe keys (nil:
// none), and returns how many were new. Lines stored before must agree
// with the file.
func insertLines(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, rec StatementRecord, st Statement, keys []string, now time.Time) (int, error) {
	added := 0
	for start := 0; start < len(st.Lines); start += insertBatchSize {
		batch := st.Lines[start:min(start+insertBatchSize, len(st.Lines))]
		n := len(batch)
		ids := make([]uuid.UUID, n)
		refs, amounts, bd, vd, md, status := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		lineNo := make([]int64, n)
		rev := make([]bool, n)
		e2e, asr, ref, descr, cp := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		dk := make([]*string, n)
		for i, l := range batch {
			if keys != nil {
				dk[i] = &keys[start+i]
			}
			ids[i] = uuid.Must(uuid.NewV7())
			refs[i], lineNo[i], amounts[i] = l.EntryRef, int64(l.Index), l.Amount.String()
			bd[i], vd[i], md[i] = dateText(l.BookingDate), dateText(l.ValueDate), dateText(lineDate(l, st, now))
			status[i], rev[i] = l.Status, l.Reversal
			e2e[i], asr[i], ref[i], descr[i], cp[i] = l.EndToEndID, l.AcctSvcrRef, l.Reference, l.Description, l.Counterparty
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO recon_lines (id, tenant_id, statement_id, account_id, entry_ref, line_no, amount, currency, booking_date, value_date,
				match_date, status, reversal, end_to_end_id, acct_svcr_ref, reference, description, counterparty, imported_at, dedupe_key)
			SELECT u.id, $1, $2, $3, u.entry_ref, u.line_no, u.amount::NUMERIC, $4, NULLIF(u.bd, '')::DATE, NULLIF(u.vd, '')::DATE,
				u.md::DATE, u.status, u.reversal, u.e2e, u.asr, u.ref, u.descr, u.cp, $5, u.dk
			FROM unnest($6::UUID[], $7::TEXT[], $8::INT8[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::BOOL[],
				$15::TEXT[], $16::TEXT[], $17::TEXT[], $18::TEXT[], $19::TEXT[], $20::TEXT[])
				AS u (id, entry_ref, line_no, amount, bd, vd, md, status, reversal, e2e, asr, ref, descr, cp, dk)
			ON CONFLICT (statement_id, entry_ref) DO NOTHING`,
			tenant, rec.ID, rec.AccountID, rec.Currency, now, ids, refs, lineNo, amounts, bd, vd, md, status, rev, e2e, asr, ref, descr, cp, dk)
		if err != nil {
			return 0, fmt.Errorf("reconcile: store lines of %q: %w", st.ID, err)
		}
		added += int(tag.RowsAffected())
		if int(tag.RowsAffected()) < n {
			if err := checkStoredLines(ctx, tx, rec, batch); err != nil {
				return 0, err
			}
		}
	}
	return added, nil
}

// checkSameEntries checks that a statement imported before (rec) has the
// entries of the file: every line to store (kept) is stored already, and
// every stored line is in the file (st). Otherwise the import would add
// lines under the first import's balance check and booked total, or hide
// that lines are gone: ErrStatementConflict. Lines of the file that
// another statement of the account holds (kept without them, CSV
// skip_duplicates) are not looked for.
func checkSameEntries(ctx context.Context, tx pgx.Tx, rec StatementRecord, st, kept Statement) error {
	rows, err := tx.Query(ctx, `SELECT entry_ref FROM recon_lines WHERE statement_id = $1 ORDER BY line_no, entry_ref`, rec.ID)
	if err != nil {
		return fmt.Errorf("reconcile: entries of %q: %w", rec.Ref, err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("reconcile: entries of %q: %w", rec.Ref, err)
	}
	stored := make(map[string]bool, len(refs))
	for _, r := range refs {
		stored[r] = true
	}
	imported := rec.ImportedAt.Format(time.RFC3339)
	for _, l := range kept.Lines {
		if !stored[l.EntryRef] {
			return fmt.Errorf("%w: statement %q was imported on %s without entry %q (line %d of the file)", ErrStatementConflict, rec.Ref, imported, l.EntryRef, l.Index)
		}
	}
	inFile := make(map[string]bool, len(st.Lines))
	for _, l := range st.Lines {
		inFile[l.EntryRef] = true
	}
	for _, r := range refs {
		if !inFile[r] {
			return fmt.Errorf("%w: statement %q was imported on %s with entry %q, which the file does not have", ErrStatementConflict, rec.Ref, imported, r)
		}
	}
	return nil
}

// checkStoredLines compares the stored lines of a batch with the file's:
// the same entry reference must carry the same amount, status and
// reversal flag.
func checkStoredLines(ctx context.Context, tx pgx.Tx, rec StatementRecord, batch []StatementLine) error {
	refs := make([]string, len(batch))
	byRef := make(map[string]StatementLine, len(batch))
	for i, l := range batch {
		refs[i] = l.EntryRef
		byRef[l.EntryRef] = l
	}
	rows, err := tx.Query(ctx, `SELECT entry_ref, amount, status, reversal FROM recon_lines WHERE statement_id = $1 AND entry_ref = ANY ($2)`, rec.ID, refs)
	if err != nil {
		return fmt.Errorf("reconcile: check lines of %q: %w", rec.Ref, err)
	}
	var ref, status string
	var amount decimal.Decimal
	var rev bool
	_, err = pgx.ForEachRow(rows, []any{&ref, &amount, &status, &rev}, func() error {
		l := byRef[ref]
		if !l.Amount.Equal(amount) || l.Status != status || l.Reversal != rev {
			return fmt.Errorf("%w: statement %q entry %q was imported as %s %s (reversal %t), the file has %s %s (reversal %t)",
				ErrStatementConflict, rec.Ref, ref, amount, status, rev, l.Amount, l.Status, l.Reversal)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrStatementConflict) {
			return err
		}
		return fmt.Errorf("reconcile: check lines of %q: %w", rec.Ref, err)
	}
	return nil
}
