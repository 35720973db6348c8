package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/ledger"
)

// BenchSpec shapes the data GenerateBench writes for the matching
// benchmark (escrowd bench-reconcile).
type BenchSpec struct {
	Tenant   uuid.UUID
	Account  string    // cash account code, created with Shards balance rows
	Currency string    // its currency
	Shards   int       // balance shards of the account
	Postings int       // ledger postings on the account (≥ 3 × Lines)
	Lines    int       // statement lines
	Days     int       // the postings are spread over this many days from From
	From     time.Time // first day (UTC midnight)
}

// BenchData is what GenerateBench wrote.
type BenchData struct {
	AccountID uuid.UUID
	From, To  time.Time // the days of the postings and lines
}

// benchBatch bounds the rows of one generating INSERT.
const benchBatch = 200_000

// GenerateBench bulk-writes a benchmark data set with INSERT ... SELECT
// generate_series, bypassing the services: Postings debits on one cash
// account (only the cash legs are written: the database is for the
// benchmark, ledger verify would flag it) with a payment_ref each, and
// Lines statement lines for them. With k = Postings / Lines, line i stands
// for posting p = i·k; the postings are spread evenly over Days in order
// (entry ids ordered by time like UUIDv7); by i mod 20 a line is: 0–11 the posting's amount and
// its payment_ref as EndToEndId, a day later (rule reference); 12–16 the
// amount alone, 0 to 2 days later (amount + date); 17 the sum of postings
// p, p+1, p+2, which carry the line's reference as batch_ref (one-to-many);
// 18 the amount less 0.50 (fee tolerance); 19 an amount no posting has.
func GenerateBench(ctx context.Context, d *db.DB, spec BenchSpec) (BenchData, error) {
	if spec.Lines < 1 || spec.Postings < 3*spec.Lines || spec.Days < 1 || spec.Shards < 1 || spec.Shards > ledger.MaxShards {
		return BenchData{}, errors.New("reconcile: bench: need lines ≥ 1, postings ≥ 3 × lines, days ≥ 1, 1 ≤ shards ≤ 256")
	}
	from := spec.From.UTC().Truncate(24 * time.Hour)
	acct, err := db.Write(ctx, d, func(tx pgx.Tx) (ledger.Account, error) {
		return ledger.EnsureAccount(ctx, tx, ledger.AccountSpec{TenantID: spec.Tenant, Code: spec.Account, Currency: spec.Currency,
			Kind: ledger.KindAsset, Shards: spec.Shards}, from)
	})
	if err != nil {
		return BenchData{}, fmt.Errorf("reconcile: bench account: %w", err)
	}
	k := spec.Postings / spec.Lines
	const amount = `round((((%[1]s * 7919) %% 499901) + 100)::NUMERIC / 100, 2)`
	am := func(x string) string { return fmt.Sprintf(amount, x) }
	// when is posting n's booking time: the postings are spread evenly over
	// the days, in order, so they lie in the table in time order as booked
	// postings do. id is an entry id ordered by that time, as UUIDv7 are.
	span := int64(spec.Days) * 86400
	when := func(from string) string {
		return fmt.Sprintf(`(%s::TIMESTAMPTZ + ((n * %d) / %d) * INTERVAL '1 second')`, from, span, spec.Postings)
	}
	id := func(from string) string {
		return fmt.Sprintf(`(lpad(to_hex((extract(epoch FROM %s) * 1000)::INT8), 12, '0') || '7' || lpad(to_hex(n %% 4096), 3, '0') || '8' || lpad(to_hex(n), 15, '0'))::UUID`,
			when(from))
	}
	for lo := 1; lo <= spec.Postings; lo += benchBatch {
		hi := min(lo+benchBatch-1, spec.Postings)
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO ledger_entries (id, tenant_id, kind, description, reference, status, effective_at, created_at, metadata, posting_count)
			SELECT `+id("$2")+`, $1, 'escrow.fund', '', 'bench:fund:' || n, 'posted', `+when("$2")+`, `+when("$2")+`,
				CASE WHEN (n / $3) % 20 = 17 AND n % $3 < 3
					THEN jsonb_build_object('payment_ref', 'PAY-' || n, 'batch_ref', 'BATCH-' || (n / $3))
					ELSE jsonb_build_object('payment_ref', 'PAY-' || n) END,
				2
			FROM generate_series($4::INT8, $5::INT8) AS n`, spec.Tenant, from, k, lo, hi); err != nil {
			return BenchData{}, fmt.Errorf("reconcile: bench entries: %w", err)
		}
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO ledger_postings (entry_id, idx, tenant_id, account_id, shard, direction, amount, currency, pending, balance_after, seq, created_at, effective_at)
			SELECT `+id("$5")+`, 0, $1, $2, n % $3, 'debit', `+am("n")+`, $4, false, 0, n, `+when("$5")+`, `+when("$5")+`
			FROM generate_series($6::INT8, $7::INT8) AS n`, spec.Tenant, acct.ID, spec.Shards, spec.Currency, from, lo, hi); err != nil {
			return BenchData{}, fmt.Errorf("reconcile: bench postings: %w", err)
		}
	}
	stmt := uuid.Must(uuid.NewV7())
	if _, err := d.Pool.Exec(ctx, `
		INSERT INTO recon_statements (id, tenant_id, account_id, statement_ref, format, currency, booked_total, balance_status, line_count, imported_at)
		VALUES ($1, $2, $3, 'bench', 'csv', $4, 0, 'unchecked', $5, $6)`, stmt, spec.Tenant, acct.ID, spec.Currency, spec.Lines, from); err != nil {
		return BenchData{}, fmt.Errorf("reconcile: bench statement: %w", err)
	}
	lineAmount := `CASE WHEN c < 17 THEN ` + am("p") + `
		WHEN c = 17 THEN ` + am("p") + ` + ` + am("(p + 1)") + ` + ` + am("(p + 2)") + `
		WHEN c = 18 THEN ` + am("p") + ` - 0.50
		ELSE 6000 + i::NUMERIC / 100 END`
	if _, err := d.Pool.Exec(ctx, `
		INSERT INTO recon_lines (id, tenant_id, statement_id, account_id, entry_ref, line_no, amount, currency, booking_date, value_date, match_date,
			status, reversal, end_to_end_id, reference, imported_at)
		SELECT md5('rb-l-' || i)::UUID, $1, $2, $3, 'L' || i, i, `+lineAmount+`, $4, dt, dt, dt, 'booked', false,
			CASE WHEN c < 12 THEN 'PAY-' || p ELSE '' END,
			CASE WHEN c = 17 THEN 'BATCH-' || i WHEN c = 19 THEN 'NOPE-' || i ELSE '' END, $5
		FROM (SELECT i, p, c, ($5::TIMESTAMPTZ + ((p * $6) / $9 + CASE WHEN c BETWEEN 12 AND 16 THEN i % 3 ELSE 1 END) * INTERVAL '1 day')::DATE AS dt
			FROM (SELECT i, i * $7 AS p, i % 20 AS c FROM generate_series(1::INT8, $8::INT8) AS i) y) x`,
		spec.Tenant, stmt, acct.ID, spec.Currency, from, spec.Days, k, spec.Lines, spec.Postings); err != nil {
		return BenchData{}, fmt.Errorf("reconcile: bench lines: %w", err)
	}
	for _, t := range []string{"ledger_entries", "ledger_postings", "recon_lines"} {
		if _, err := d.Pool.Exec(ctx, "ANALYZE "+t); err != nil {
			return BenchData{}, fmt.Errorf("reconcile: bench analyze %s: %w", t, err)
		}
	}
	return BenchData{AccountID: acct.ID, From: from, To: from.Add(time.Duration(spec.Days+2) * 24 * time.Hour)}, nil
}
