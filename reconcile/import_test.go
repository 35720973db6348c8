package reconcile_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/reconcile"
)

const realCamtSample = "../testdata/real/camt053-sample-nl-2013.xml"

type storedLine struct {
	entryRef, amount, status, e2e, reference, counterparty string
	booking, match                                         time.Time
	reversal                                               bool
}

func (f *fixture) storedLines(statement string) []storedLine {
	f.t.Helper()
	rows, err := f.db.Pool.Query(f.ctx, `SELECT entry_ref, amount::TEXT, status, end_to_end_id, reference, counterparty, booking_date, match_date, reversal
		FROM recon_lines WHERE statement_id = $1 ORDER BY line_no`, statement)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []storedLine
	for rows.Next() {
		var l storedLine
		if err := rows.Scan(&l.entryRef, &l.amount, &l.status, &l.e2e, &l.reference, &l.counterparty, &l.booking, &l.match, &l.reversal); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func TestImportCamt053RealSample(t *testing.T) {
	f := newFixture(t)
	f.account("bank:abn:EUR", "EUR")
	data, err := os.ReadFile(realCamtSample)
	if err != nil {
		t.Fatal(err)
	}
	req := reconcile.ImportRequest{Account: "bank:abn:EUR", Format: reconcile.FormatCamt053, Data: data}
	res, err := f.svc.ImportStatement(f.ctx, f.tenant, req)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Statement
	if !res.NewStatement || res.Lines != 3 || res.NewLines != 3 || res.ExistingLines != 0 || res.Reversals != 1 || res.PendingLines != 0 {
		t.Fatalf("result %+v", res)
	}
	if st.Ref != "1234Test/1" || st.IBAN != "NL77ABNA0574908765" || st.Currency != "EUR" || st.Format != "camt.053" || st.LineCount != 3 {
		t.Fatalf("statement %+v", st)
	}
	// The sample's balances do not tie: the import reports and stores it.
	b := st.Balance
	if b.Status != reconcile.BalanceMismatch || !b.Opening.Equal(dec("15568.27")) || !b.BookedTotal.Equal(dec("57.01")) ||
		!b.Closing.Equal(dec("15121.12")) || !b.Difference.Equal(dec("-504.16")) || !b.Expected().Equal(dec("15625.28")) {
		t.Fatalf("balance check %+v", b)
	}
	var status, diff string
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT balance_status, balance_difference::TEXT FROM recon_statements WHERE id = $1`, st.ID).Scan(&status, &diff); err != nil {
		t.Fatal(err)
	}
	if status != "mismatch" || diff != "-504.16" {
		t.Fatalf("stored balance %s %s", status, diff)
	}
	day := time.Date(2013, 1, 5, 0, 0, 0, 0, time.UTC)
	want := []storedLine{
		{entryRef: "line-1", amount: "-754.25", status: "booked", e2e: "435005714488-ABNO33052620", reference: "Insurance policy 857239PERIOD 01.01.2013 - 31.12.2013", counterparty: "INSURANCE COMPANY TESTX", booking: day, match: day},
		{entryRef: "line-2", amount: "-594.05", status: "booked", e2e: "TESTBANK/NL/20141229/01206408", reference: "Direct Debit S14 0410", counterparty: "Test Customer", booking: day, match: day, reversal: true},
		{entryRef: "line-3", amount: "1405.31", status: "booked", e2e: "115", counterparty: "3rd party Media", booking: day, match: day},
	}
	got := f.storedLines(st.ID.String())
	if len(got) != len(want) {
		t.Fatalf("stored %d lines", len(got))
	}
	for i := range want {
		g := got[i]
		if g.entryRef != want[i].entryRef || g.amount != want[i].amount || g.status != want[i].status || g.e2e != want[i].e2e ||
			g.reference != want[i].reference || g.counterparty != want[i].counterparty || !g.booking.Equal(want[i].booking) ||
			!g.match.Equal(want[i].match) || g.reversal != want[i].reversal {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+1, g, want[i])
		}
	}

	// Importing it again adds nothing.
	again, err := f.svc.ImportStatement(f.ctx, f.tenant, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.NewStatement || again.NewLines != 0 || again.ExistingLines != 3 || again.Statement.ID != st.ID || again.Statement.Balance.Status != reconcile.BalanceMismatch {
		t.Fatalf("re-import %+v", again)
	}
	if n := f.count(`SELECT count(*) FROM recon_lines`); n != 3 {
		t.Fatalf("%d lines after re-import", n)
	}

	// The same statement id with other balances is a conflict; nothing stored.
	changed := strings.Replace(string(data), "15121.12", "15625.28", 1)
	_, err = f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "bank:abn:EUR", Format: reconcile.FormatCamt053, Data: []byte(changed)})
	if !errors.Is(err, reconcile.ErrStatementConflict) {
		t.Fatalf("changed statement: %v", err)
	}
}

func TestImportErrors(t *testing.T) {
	f := newFixture(t)
	f.account("bank:EUR", "EUR")
	f.account("bank:USD", "USD")
	f.account("bank:JPY", "JPY")
	data, err := os.ReadFile(realCamtSample)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "<Amt Ccy=\"EUR\">1405.31</Amt>", "<Amt Ccy=\"EUR\">1,405.31</Amt>", 1)
	// More decimals than the currency has: such a line never matches a
	// posting (issue 4: amounts are exact at their currency's minor units,
	// never rounded).
	inexact := func(element, reason string) func(error) bool {
		return func(err error) bool {
			var pe *reconcile.ParseError
			return errors.Is(err, reconcile.ErrInvalidStatement) && errors.As(err, &pe) && pe.Element == element && pe.Reason == reason
		}
	}
	// A CSV amount names the file line (the header is line 1) and the
	// column, as the parser names a malformed one.
	inexactAt := func(line int, element, reason string) func(error) bool {
		return func(err error) bool {
			var pe *reconcile.ParseError
			return errors.Is(err, reconcile.ErrInvalidStatement) && errors.As(err, &pe) && pe.Line == line && pe.Element == element && pe.Reason == reason
		}
	}
	halfCent := strings.Replace(string(data), "<Amt Ccy=\"EUR\">1405.31</Amt>", "<Amt Ccy=\"EUR\">1405.315</Amt>", 1)
	tests := []struct {
		name  string
		req   reconcile.ImportRequest
		check func(error) bool
	}{
		{"malformed XML names the line", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCamt053, Data: []byte("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt>\n</Oops>")},
			func(err error) bool {
				var pe *reconcile.ParseError
				return errors.Is(err, reconcile.ErrInvalidStatement) && errors.As(err, &pe) && pe.Line == 3
			}},
		{"a bad amount names the element", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCamt053, Data: []byte(broken)},
			func(err error) bool {
				var pe *reconcile.ParseError
				return errors.As(err, &pe) && strings.HasPrefix(pe.Element, "Ntry[3]")
			}},
		{"a bad CSV row names the line", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCSV,
			Data: []byte("booking_date,amount\n2026-03-01,10.00\n2026-03-02,ten\n")},
			func(err error) bool {
				var pe *reconcile.ParseError
				return errors.As(err, &pe) && pe.Line == 3 && pe.Element == "amount"
			}},
		{"a camt.053 amount beyond the minor units names the element", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCamt053, Data: []byte(halfCent)},
			inexact("Ntry[3]/Amt", "amount 1405.315 has more than 2 decimal places for EUR")},
		{"half a yen names the file line and column, as a malformed amount", reconcile.ImportRequest{Account: "bank:JPY", Format: reconcile.FormatCSV,
			Data: []byte("booking_date,amount\n2026-03-01,1000\n2026-03-01,1000.5\n")},
			inexactAt(3, "amount", "amount 1000.5 has more than 0 decimal places for JPY")},
		{"a debit beyond the minor units names the file line and column", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCSV,
			Data: []byte("booking_date,debit,credit\n2026-03-01,10.001,\n"), CSV: reconcile.CSVMappingParams{Columns: true,
				Mapping: reconcile.CSVMapping{BookingDate: "booking_date", Debit: "debit", Credit: "credit"}}},
			inexactAt(2, "debit", "amount -10.001 has more than 2 decimal places for EUR")},
		{"a Latin-1 CSV names the line and column", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCSV,
			Data: []byte("booking_date,amount,counterparty\n2026-03-02,10.00,M\xfcller GmbH\n")},
			func(err error) bool {
				var pe *reconcile.ParseError
				return errors.Is(err, reconcile.ErrInvalidStatement) && errors.As(err, &pe) && pe.Line == 2 && pe.Element == "counterparty"
			}},
		{"a NUL in a CSV cell names the line and column", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCSV,
			Data: []byte("booking_date,amount,reference\n2026-03-02,10.00,ok\n2026-03-02,10.00,\"ESC\x00-1\"\n")},
			func(err error) bool {
				var pe *reconcile.ParseError
				return errors.Is(err, reconcile.ErrInvalidStatement) && errors.As(err, &pe) && pe.Line == 3 && pe.Element == "reference"
			}},
		{"a camt.053 file over the parser's limit is too large, not invalid", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCamt053,
			Data: append(append([]byte{}, data...), strings.Repeat(" ", reconcile.MaxStatementBytes)...)},
			func(err error) bool {
				return errors.Is(err, reconcile.ErrTooLarge) && !errors.Is(err, reconcile.ErrInvalidStatement)
			}},
		{"unknown account", reconcile.ImportRequest{Account: "bank:nope", Format: reconcile.FormatCamt053, Data: data},
			func(err error) bool { return errors.Is(err, reconcile.ErrUnknownAccount) }},
		{"statement in another currency", reconcile.ImportRequest{Account: "bank:USD", Format: reconcile.FormatCamt053, Data: data},
			func(err error) bool { fe, ok := valid.As(err); return ok && fe.Code() == "currency_mismatch" }},
		{"CSV line in another currency", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCSV,
			Data: []byte("booking_date,amount,currency\n2026-03-01,10.00,EUR\n2026-03-01,5.00,USD\n")},
			func(err error) bool { fe, ok := valid.As(err); return ok && fe.Code() == "currency_mismatch" }},
		{"CSV mapping problem names the parameter", reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCSV, Data: []byte("d,a\n"),
			CSV: reconcile.CSVMappingParams{Columns: true, Mapping: reconcile.CSVMapping{BookingDate: "d", Amount: "a", Debit: "x"}}},
			func(err error) bool {
				fe, ok := valid.As(err)
				return ok && fe.Code() == "invalid_csv_mapping" && fe[0].Field == "amount"
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.ImportStatement(f.ctx, f.tenant, tc.req)
			if !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if n := f.count(`SELECT count(*) FROM recon_statements`) + f.count(`SELECT count(*) FROM recon_lines`); n != 0 {
		t.Fatalf("%d rows stored by failed imports", n)
	}
}

func TestImportCSVVariants(t *testing.T) {
	f := newFixture(t)
	f.account("psp:EUR", "EUR")
	tests := []struct {
		name    string
		csv     string
		params  map[string]string
		amounts []string
		refs    []string
	}{
		{name: "default mapping: columns named like the parameters, account currency",
			csv:     "booking_date,value_date,amount,reference,description,entry_ref\n2026-03-01,2026-03-02,1200.50,ESC-1,deposit,tx-1\n2026-03-02,,-20,ESC-2,fee,tx-2\n",
			amounts: []string{"1200.5", "-20"}, refs: []string{"tx-1", "tx-2"}},
		{name: "German export: BOM, semicolons, decimal comma, dd.mm.yyyy",
			csv:     "\xEF\xBB\xBFBuchungstag;Betrag;Verwendungszweck\n02.03.2026;-1.234,56;\"Miete; März\"\n03.03.2026;12,3;ESC-7\n",
			params:  map[string]string{"booking_date": "Buchungstag", "amount": "Betrag", "reference": "Verwendungszweck", "decimal_comma": "true", "date_layout": "02.01.2006"},
			amounts: []string{"-1234.56", "12.3"}, refs: []string{"line-1", "line-2"}},
		{name: "debit and credit columns",
			csv:     "Date,Debit,Credit,Ccy\n2026-03-01,10.00,,EUR\n2026-03-02,,250,EUR\n",
			params:  map[string]string{"booking_date": "Date", "debit": "Debit", "credit": "Credit", "currency": "Ccy"},
			amounts: []string{"-10", "250"}, refs: []string{"line-1", "line-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := reconcile.ParseCSVMappingParams(func(k string) string { return tc.params[k] })
			if err != nil {
				t.Fatal(err)
			}
			req := reconcile.ImportRequest{Account: "psp:EUR", Format: reconcile.FormatCSV, Data: []byte(tc.csv), CSV: p}
			res, err := f.svc.ImportStatement(f.ctx, f.tenant, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.NewLines != len(tc.amounts) || res.Statement.Balance.Status != reconcile.BalanceUnchecked {
				t.Fatalf("result %+v", res)
			}
			got := f.storedLines(res.Statement.ID.String())
			for i, l := range got {
				if !dec(l.amount).Equal(dec(tc.amounts[i])) || l.entryRef != tc.refs[i] {
					t.Errorf("line %d = %+v, want %s %s", i+1, l, tc.amounts[i], tc.refs[i])
				}
			}
			again, err := f.svc.ImportStatement(f.ctx, f.tenant, req)
			if err != nil || again.NewLines != 0 || again.ExistingLines != len(tc.amounts) || again.Statement.ID != res.Statement.ID {
				t.Fatalf("re-import: %+v, %v", again, err)
			}
		})
	}
	// A CSV statement with an explicit id does not grow: imported again with
	// a new line, or with a changed amount under an old reference, it is
	// refused.
	base := "booking_date,amount,entry_ref\n2026-03-01,5.00,a\n"
	p, _ := reconcile.ParseCSVMappingList("statement_id=psp-2026-03")
	imp := func(csv string) (reconcile.ImportResult, error) {
		return f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "psp:EUR", Format: reconcile.FormatCSV, Data: []byte(csv), CSV: p})
	}
	if _, err := imp(base); err != nil {
		t.Fatal(err)
	}
	if res, err := imp(base + "2026-03-02,6.00,b\n"); !errors.Is(err, reconcile.ErrStatementConflict) {
		t.Fatalf("grown statement: %+v, %v", res, err)
	}
	if _, err := imp("booking_date,amount,entry_ref\n2026-03-01,5.01,a\n"); !errors.Is(err, reconcile.ErrStatementConflict) {
		t.Fatalf("changed line: %v", err)
	}
	// A statement with an id and no entry references, newest line first,
	// that grows: its old lines move to other row numbers, so references
	// derived from them change meaning. That is a conflict (409), with or
	// without skip_duplicates, never a stored mix.
	for month, skip := range map[string]string{"04": "false", "05": "true"} { // other lines each time: no duplicates across the cases
		p, _ := reconcile.ParseCSVMappingList("statement_id=desc-" + skip + ",skip_duplicates=" + skip)
		imp := func(csv string) error {
			_, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "psp:EUR", Format: reconcile.FormatCSV, Data: []byte(csv), CSV: p})
			return err
		}
		d := "2026-" + month + "-0"
		if err := imp("booking_date,amount\n" + d + "2,6.00\n" + d + "1,5.00\n"); err != nil {
			t.Fatal(err)
		}
		if err := imp("booking_date,amount\n" + d + "3,7.00\n" + d + "2,6.00\n" + d + "1,5.00\n"); !errors.Is(err, reconcile.ErrStatementConflict) {
			t.Fatalf("skip_duplicates=%s: grown newest-first statement: %v, want a statement conflict", skip, err)
		}
	}
}

// TestImportCamtDatesWithZoneOffsets: the bank's day is stored, not the
// UTC day: a Dt with an offset east of UTC, a DtTm late in the evening
// west of UTC.
func TestImportCamtDatesWithZoneOffsets(t *testing.T) {
	f := newFixture(t)
	f.account("bank:EUR", "EUR")
	doc := camtStatement("S-2", "0", "30.00",
		camtEntry("10.00", "CRDT", `<NtryRef>N1</NtryRef><BookgDt><Dt>2026-03-02+01:00</Dt></BookgDt><ValDt><Dt>2026-03-03+01:00</Dt></ValDt>`),
		camtEntry("20.00", "CRDT", `<NtryRef>N2</NtryRef><BookgDt><DtTm>2026-03-02T23:30:00-05:00</DtTm></BookgDt>`))
	res, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCamt053, Data: doc})
	if err != nil {
		t.Fatal(err)
	}
	got := f.storedLines(res.Statement.ID.String())
	for _, l := range got {
		if b, m := l.booking.Format(time.DateOnly), l.match.Format(time.DateOnly); b != "2026-03-02" || m != "2026-03-02" {
			t.Errorf("entry %s: booking_date %s, match_date %s; want 2026-03-02", l.entryRef, b, m)
		}
	}
	if n := f.count(`SELECT count(*) FROM recon_lines WHERE entry_ref = 'N1' AND value_date = '2026-03-03'`); n != 1 {
		t.Errorf("N1: value date not 2026-03-03")
	}
}

// TestImportKnownStatementWithOtherEntries: a statement id imported before
// with other entry references (one more, one less, one replaced) is a
// conflict and stores nothing, so the stored balance check and booked
// total stay those of the lines stored; the same file again is a no-op.
func TestImportKnownStatementWithOtherEntries(t *testing.T) {
	f := newFixture(t)
	f.account("bank:EUR", "EUR")
	e1 := camtEntry("100.00", "CRDT", `<NtryRef>N1</NtryRef><BookgDt><Dt>2026-03-02</Dt></BookgDt>`)
	e2 := camtEntry("999.00", "CRDT", `<NtryRef>N2</NtryRef><BookgDt><Dt>2026-03-02</Dt></BookgDt>`)
	e3 := camtEntry("100.00", "CRDT", `<NtryRef>N3</NtryRef><BookgDt><Dt>2026-03-02</Dt></BookgDt>`)
	imp := func(doc []byte) (reconcile.ImportResult, error) {
		return f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "bank:EUR", Format: reconcile.FormatCamt053, Data: doc})
	}
	first, err := imp(camtStatement("S-9", "0", "100.00", e1))
	if err != nil || first.Statement.Balance.Status != reconcile.BalanceTied {
		t.Fatalf("first import: %+v, %v", first, err)
	}
	tests := []struct {
		name string
		doc  []byte
	}{
		{"one more entry, balances as before", camtStatement("S-9", "0", "100.00", e1, e2)}, // 0 + 100 + 999 != 100
		{"two more entries that leave the balances tied", camtStatement("S-9", "0", "100.00", e1,
			camtEntry("50.00", "CRDT", `<NtryRef>N4</NtryRef>`), camtEntry("50.00", "DBIT", `<NtryRef>N5</NtryRef>`))},
		{"one entry less", camtStatement("S-9", "0", "100.00")},
		{"an entry replaced by another of the same amount", camtStatement("S-9", "0", "100.00", e3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := imp(tc.doc)
			if !errors.Is(err, reconcile.ErrStatementConflict) {
				t.Fatalf("new_lines %d, balance %q, err %v; want a statement conflict", res.NewLines, res.Statement.Balance.Status, err)
			}
		})
	}
	again, err := imp(camtStatement("S-9", "0", "100.00", e1))
	if err != nil || again.NewStatement || again.NewLines != 0 || again.ExistingLines != 1 || again.Statement.Balance.Status != reconcile.BalanceTied {
		t.Fatalf("same file again: %+v, %v", again, err)
	}
	var status, booked string
	var lineCount, lines int
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT balance_status, booked_total::TEXT, line_count, (SELECT count(*) FROM recon_lines WHERE statement_id = s.id)
		FROM recon_statements s WHERE id = $1`, first.Statement.ID).Scan(&status, &booked, &lineCount, &lines); err != nil {
		t.Fatal(err)
	}
	if status != reconcile.BalanceTied || !dec(booked).Equal(dec("100")) || lineCount != 1 || lines != 1 {
		t.Errorf("stored: balance_status %q, booked_total %s, line_count %d, %d lines; want tied, 100, 1, 1", status, booked, lineCount, lines)
	}
}

// TestImportOverlappingCSVExports: two CSV exports without a statement id
// overlap by two days, imported with skip_duplicates. The lines they share
// are stored once, identical transactions of one day stay two lines, and
// importing either file again stores nothing. Without the option, a file
// whose lines another statement holds is stored whole (an incremental
// export's second identical transfer is a transfer).
func TestImportOverlappingCSVExports(t *testing.T) {
	f := newFixture(t)
	f.account("psp:EUR", "EUR")
	const header = "booking_date,amount,reference,description\n"
	march1 := "2026-03-01,10.00,ESC-1,deposit\n"
	march2 := "2026-03-02,5.00,ESC-2,deposit\n2026-03-02,5.00,ESC-2,deposit\n" // the same transfer, twice
	march3 := "2026-03-03,-2.50,,fee\n"
	march4 := "2026-03-04,7.00,ESC-3,deposit\n"
	imp := func(csv string) reconcile.ImportResult {
		t.Helper()
		res, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "psp:EUR", Format: reconcile.FormatCSV, Data: []byte(csv),
			CSV: reconcile.CSVMappingParams{SkipDuplicates: true}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a := header + march1 + march2 + march3
	b := header + march2 + march3 + march4
	tests := []struct {
		name                      string
		csv                       string
		newLines, existing, dupes int
	}{
		{"first export", a, 4, 0, 0},
		{"overlapping export", b, 1, 0, 3},
		{"overlapping export again", b, 0, 1, 3},
		{"first export again", a, 0, 4, 0},
		{"a third transfer on March 2 is new", header + march2 + "2026-03-02,5.00,ESC-2,deposit\n", 1, 0, 2},
	}
	for _, tc := range tests {
		res := imp(tc.csv)
		if res.NewLines != tc.newLines || res.ExistingLines != tc.existing || res.DuplicateLines != tc.dupes {
			t.Errorf("%s: new %d, existing %d, duplicate %d; want %d, %d, %d", tc.name, res.NewLines, res.ExistingLines, res.DuplicateLines,
				tc.newLines, tc.existing, tc.dupes)
		}
	}
	var lines int
	var total string
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*), sum(amount)::TEXT FROM recon_lines WHERE tenant_id = $1`, f.tenant).Scan(&lines, &total); err != nil {
		t.Fatal(err)
	}
	if lines != 6 || !dec(total).Equal(dec("29.5")) {
		t.Fatalf("stored %d lines summing to %s, want 6 summing to 29.50", lines, total)
	}
	if n := f.count(`SELECT count(*) FROM recon_statements WHERE tenant_id = $1 AND line_count <> (SELECT count(*) FROM recon_lines l WHERE l.statement_id = recon_statements.id)`, f.tenant); n != 0 {
		t.Fatalf("%d statements whose line_count is not their stored lines", n)
	}
	if res := imp(b); fmt.Sprint(res.DuplicateLineNumbers) != "[1 2 3]" {
		t.Fatalf("duplicate line numbers %v, want [1 2 3]", res.DuplicateLineNumbers)
	}
	res, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "psp:EUR", Format: reconcile.FormatCSV, Data: []byte(header + march3)})
	if err != nil || res.NewLines != 1 || res.DuplicateLines != 0 {
		t.Fatalf("without skip_duplicates: %+v, %v", res, err)
	}
}

// TestCSVStatementIDText: the statement_id parameter is stored as the
// statement's id, so bytes PostgreSQL refuses in text (not UTF-8, NUL)
// are a 422 naming it, not a 500 from the database.
func TestCSVStatementIDText(t *testing.T) {
	for _, id := range []string{"stmt-\xff", "stmt-\x00-1"} {
		_, err := reconcile.ParseCSVMappingParams(func(k string) string {
			if k == reconcile.ParamStatementID {
				return id
			}
			return ""
		})
		var errs valid.Errors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Field != reconcile.ParamStatementID {
			t.Errorf("statement_id %q: %v, want a validation error naming statement_id", id, err)
		}
	}
}
