package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

const realCamtSample = "../testdata/real/camt053-sample-nl-2013.xml"

func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("bad test decimal %q: %v", s, err)
	}
	return d
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseCamt053RealSample(t *testing.T) {
	f, err := os.Open(realCamtSample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := ParseCamt053(f)
	if err != nil {
		t.Fatalf("ParseCamt053: %v", err)
	}

	if st.ID != "1234Test/1" || st.AccountIBAN != "NL77ABNA0574908765" || st.Currency != "EUR" {
		t.Errorf("header = %q %q %q", st.ID, st.AccountIBAN, st.Currency)
	}
	if want := time.Date(2013, 1, 6, 16, 20, 26, 673e6, time.UTC); !st.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", st.CreatedAt, want)
	}
	if !st.FromDate.Equal(day(2013, 1, 5)) || !st.ToDate.Equal(time.Date(2013, 1, 5, 23, 59, 59, 999e6, time.UTC)) {
		t.Errorf("FromDate, ToDate = %v, %v", st.FromDate, st.ToDate)
	}
	if st.OpeningBalance == nil || !st.OpeningBalance.Equal(dec(t, "15568.27")) {
		t.Errorf("OpeningBalance = %v, want 15568.27", st.OpeningBalance)
	}
	if st.ClosingBalance == nil || !st.ClosingBalance.Equal(dec(t, "15121.12")) {
		t.Errorf("ClosingBalance = %v, want 15121.12", st.ClosingBalance)
	}

	want := []StatementLine{
		{ // SEPA direct debit collected from us
			Index: 1, EntryRef: "line-1", Amount: dec(t, "-754.25"), Currency: "EUR",
			BookingDate: day(2013, 1, 5), ValueDate: day(2013, 1, 5), Status: StatusBooked,
			EndToEndID:   "435005714488-ABNO33052620",
			Reference:    "Insurance policy 857239PERIOD 01.01.2013 - 31.12.2013",
			Description:  "MKB Insurance 859239PERIOD 01.01.2013 - 31.12.2013",
			Counterparty: "INSURANCE COMPANY TESTX",
		},
		{ // reversal, booked as a debit (CdtDbtInd DBIT, RvslInd true)
			Index: 2, EntryRef: "line-2", Amount: dec(t, "-594.05"), Currency: "EUR",
			BookingDate: day(2013, 1, 5), ValueDate: day(2013, 1, 5), Status: StatusBooked, Reversal: true,
			EndToEndID:   "TESTBANK/NL/20141229/01206408",
			Reference:    "Direct Debit S14 0410",
			Description:  "Direct debit S14 0410 AC07 Rek.nummer blokkade TESTBANK/NL/20141229/01206408",
			Counterparty: "Test Customer",
		},
		{ // SEPA credit transfer received
			Index: 3, EntryRef: "line-3", Amount: dec(t, "1405.31"), Currency: "EUR",
			BookingDate: day(2013, 1, 5), ValueDate: day(2013, 1, 5), Status: StatusBooked,
			EndToEndID:   "115",
			Description:  "#RD PARTY MEDIA CUSNO 90782 4210773",
			Counterparty: "3rd party Media",
		},
	}
	if len(st.Lines) != len(want) {
		t.Fatalf("got %d lines, want %d", len(st.Lines), len(want))
	}
	for i, w := range want {
		assertLine(t, st.Lines[i], w)
	}

	// The sample's own numbers do not tie: 15568.27 - 754.25 - 594.05 +
	// 1405.31 = 15625.28, but the closing balance is 15121.12. (Taking the
	// reversal as +594.05 instead gives 16813.38, which does not tie either.)
	var mm *BalanceMismatchError
	if err := st.CheckBalances(); !errors.As(err, &mm) {
		t.Fatalf("CheckBalances = %v, want *BalanceMismatchError", err)
	}
	if !mm.Opening.Equal(dec(t, "15568.27")) || !mm.Sum.Equal(dec(t, "57.01")) ||
		!mm.Closing.Equal(dec(t, "15121.12")) || !mm.Difference.Equal(dec(t, "-504.16")) {
		t.Errorf("mismatch = %+v", mm)
	}
}

func assertLine(t *testing.T, got, want StatementLine) {
	t.Helper()
	if !got.Amount.Equal(want.Amount) {
		t.Errorf("line %d: Amount = %s, want %s", want.Index, got.Amount, want.Amount)
	}
	if !got.BookingDate.Equal(want.BookingDate) || !got.ValueDate.Equal(want.ValueDate) {
		t.Errorf("line %d: dates = %v, %v, want %v, %v", want.Index, got.BookingDate, got.ValueDate, want.BookingDate, want.ValueDate)
	}
	got.Amount, want.Amount = decimal.Zero, decimal.Zero
	got.BookingDate, want.BookingDate = time.Time{}, time.Time{}
	got.ValueDate, want.ValueDate = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("line %d:\n got %+v\nwant %+v", want.Index, got, want)
	}
}

// camtDoc builds a minimal camt.053 document of version nn with the given
// statements' inner XML.
func camtDoc(nn string, stmts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.%s"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>`, nn)
	for _, s := range stmts {
		b.WriteString("<Stmt>" + s + "</Stmt>")
	}
	b.WriteString("</BkToCstmrStmt></Document>")
	return b.String()
}

const camtHead = `<Id>S1</Id><CreDtTm>2024-05-01T08:00:00+02:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>`

func camtBal(code, amt, ind string) string {
	return fmt.Sprintf(`<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>2024-04-30</Dt></Dt></Bal>`, code, amt, ind)
}

func camtNtry(amt, ind, sts, extra string) string {
	return fmt.Sprintf(`<Ntry>%s<Amt Ccy="EUR">%s</Amt><CdtDbtInd>%s</CdtDbtInd>%s<BookgDt><Dt>2024-04-30</Dt></BookgDt></Ntry>`, extra, amt, ind, sts)
}

func TestParseCamt053Variants(t *testing.T) {
	v08 := camtDoc("08", camtHead+
		camtBal("PRCD", "10.00", "DBIT")+camtBal("CLBD", "90.50", "CRDT")+
		`<Ntry><NtryRef>R1</NtryRef><Amt Ccy="EUR">100.5</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><DtTm>2024-04-30T10:11:12Z</DtTm></BookgDt><ValDt><Dt>2024-05-01</Dt></ValDt><AcctSvcrRef>ASR1</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<RltdPties><Dbtr><Pty><Nm>Buyer GmbH</Nm></Pty></Dbtr><Cdtr><Pty><Nm>Us</Nm></Pty></Cdtr></RltdPties>
<RmtInf><Strd><CdtrRefInf><Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf></TxDtls></NtryDtls></Ntry>`+
		`<Ntry><Amt Ccy="EUR">7</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts><AcctSvcrRef>ASR2</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>E2E-A</EndToEndId></Refs><RmtInf><Ustrd>part one</Ustrd><Ustrd>part two</Ustrd></RmtInf></TxDtls>
<TxDtls><Refs><EndToEndId>E2E-B</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>`)

	st, err := ParseCamt053(strings.NewReader(v08))
	if err != nil {
		t.Fatalf("v08: %v", err)
	}
	if !st.OpeningBalance.Equal(dec(t, "-10")) || !st.ClosingBalance.Equal(dec(t, "90.5")) {
		t.Errorf("balances = %s, %s", st.OpeningBalance, st.ClosingBalance)
	}
	if err := st.CheckBalances(); err != nil { // -10 + 100.5 (the pending -7 excluded) = 90.5
		t.Errorf("CheckBalances = %v", err)
	}
	assertLine(t, st.Lines[0], StatementLine{
		Index: 1, EntryRef: "R1", Amount: dec(t, "100.5"), Currency: "EUR",
		BookingDate: time.Date(2024, 4, 30, 10, 11, 12, 0, time.UTC), ValueDate: day(2024, 5, 1),
		Status: StatusBooked, AcctSvcrRef: "ASR1", Reference: "RF18539007547034", Counterparty: "Buyer GmbH",
	})
	assertLine(t, st.Lines[1], StatementLine{
		Index: 2, EntryRef: "ASR2", Amount: dec(t, "-7"), Currency: "EUR", Status: StatusPending,
		AcctSvcrRef: "ASR2", Reference: "part one part two", // two different EndToEndIds: left empty
	})

	// Every supported version is recognised by its namespace alone.
	for v := minCamt053Version; v <= maxCamt053Version; v++ {
		doc := camtDoc(fmt.Sprintf("%02d", v), camtHead+camtNtry("1.00", "CRDT", "<Sts>BOOK</Sts>", ""))
		if _, err := ParseCamt053(strings.NewReader(doc)); err != nil {
			t.Errorf("version %02d: %v", v, err)
		}
	}
}

// TestCamtDates: a Dt is the calendar date as written, whatever its zone
// offset; a DtTm keeps its instant and offset, and its stored date is the
// date in that offset.
func TestCamtDates(t *testing.T) {
	tests := []struct {
		name     string
		d        camtDate
		want     time.Time
		wantText string
	}{
		{"date", camtDate{Dt: "2026-03-02"}, day(2026, 3, 2), "2026-03-02"},
		{"date, UTC", camtDate{Dt: "2026-03-02Z"}, day(2026, 3, 2), "2026-03-02"},
		{"date east of UTC", camtDate{Dt: "2026-03-02+01:00"}, day(2026, 3, 2), "2026-03-02"},
		{"date west of UTC", camtDate{Dt: " 2026-03-02-05:00 "}, day(2026, 3, 2), "2026-03-02"},
		{"date and time without zone", camtDate{DtTm: "2026-03-02T23:30:00"}, time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC), "2026-03-02"},
		{"date and time east of UTC, UTC the day before", camtDate{DtTm: "2026-03-02T00:30:00+01:00"}, time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), "2026-03-02"},
		{"date and time west of UTC, UTC the day after", camtDate{DtTm: "2026-03-02T23:30:00.5-05:00"}, time.Date(2026, 3, 3, 4, 30, 0, 5e8, time.UTC), "2026-03-02"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := camtDateChoice("BookgDt", tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) || dateText(got) != tc.wantText {
				t.Errorf("%+v: %s, stored as %s; want %s, %s", tc.d, got.Format(time.RFC3339Nano), dateText(got), tc.want.Format(time.RFC3339Nano), tc.wantText)
			}
		})
	}
}

func TestParseCamt053Errors(t *testing.T) {
	ok := camtNtry("1.00", "CRDT", "<Sts>BOOK</Sts>", "")
	tests := []struct {
		name, doc      string
		element, inErr string
		line           int
	}{
		{"camt.052", strings.Replace(camtDoc("02", camtHead), "camt.053", "camt.052", 1), "Document", "unsupported namespace", 0},
		{"version 01", camtDoc("01", camtHead), "Document", "unsupported namespace", 0},
		{"version 14", camtDoc("14", camtHead), "Document", "unsupported namespace", 0},
		{"no namespace", `<Document><BkToCstmrStmt/></Document>`, "Document", "unsupported namespace", 0},
		{"wrong root", `<Foo/>`, "Foo", "root element is not Document", 0},
		{"empty input", ``, "", "no Document element", 0},
		{"no statement", camtDoc("02"), "BkToCstmrStmt/Stmt", "no statement", 0},
		{"two statements", camtDoc("02", camtHead, camtHead), "BkToCstmrStmt/Stmt", "multiple statements not supported (2 found)", 0},
		{"exponent", camtDoc("02", camtHead+ok+camtNtry("1e3", "CRDT", "<Sts>BOOK</Sts>", "")), "Ntry[2]/Amt", `amount "1e3" is not a plain decimal`, 0},
		{"negative", camtDoc("02", camtHead+camtNtry("-5", "CRDT", "<Sts>BOOK</Sts>", "")), "Ntry[1]/Amt", "not a plain decimal", 0},
		{"too many decimals", camtDoc("02", camtHead+camtNtry("1.123456", "CRDT", "<Sts>BOOK</Sts>", "")), "Ntry[1]/Amt", "more than", 0},
		{"bad indicator", camtDoc("02", camtHead+camtNtry("1", "CREDIT", "<Sts>BOOK</Sts>", "")), "Ntry[1]/CdtDbtInd", "neither CRDT nor DBIT", 0},
		{"missing status", camtDoc("02", camtHead+camtNtry("1", "CRDT", "", "")), "Ntry[1]/Sts", "missing", 0},
		{"INFO status", camtDoc("02", camtHead+camtNtry("1", "CRDT", "<Sts>INFO</Sts>", "")), "Ntry[1]/Sts", `status "INFO" not supported`, 0},
		{"proprietary status", camtDoc("09", camtHead+camtNtry("1", "CRDT", "<Sts><Prtry>X</Prtry></Sts>", "")), "Ntry[1]/Sts/Prtry", "proprietary", 0},
		{"bad reversal", camtDoc("02", camtHead+camtNtry("1", "CRDT", "<RvslInd>yes</RvslInd><Sts>BOOK</Sts>", "")), "Ntry[1]/RvslInd", "not a boolean", 0},
		{"bad date", camtDoc("02", camtHead+strings.Replace(ok, "2024-04-30", "30.04.2024", 1)), "Ntry[1]/BookgDt/Dt", "not a valid date", 0},
		{"year 0000 booking date", camtDoc("02", camtHead+strings.Replace(ok, "2024-04-30", "0000-04-30", 1)), "Ntry[1]/BookgDt/Dt", "outside 1900..2999", 0},
		{"year 0000 booking date and time", camtDoc("02", camtHead+strings.Replace(ok, "<Dt>2024-04-30</Dt>", "<DtTm>0000-04-30T10:00:00Z</DtTm>", 1)), "Ntry[1]/BookgDt/DtTm", "outside 1900..2999", 0},
		{"year 0000 value date", camtDoc("02", camtHead+strings.Replace(ok, "</Ntry>", "<ValDt><Dt>0000-01-01</Dt></ValDt></Ntry>", 1)), "Ntry[1]/ValDt/Dt", "outside 1900..2999", 0},
		{"year 1899 value date", camtDoc("02", camtHead+strings.Replace(ok, "</Ntry>", "<ValDt><Dt>1899-12-31</Dt></ValDt></Ntry>", 1)), "Ntry[1]/ValDt/Dt", "year 1899", 0},
		{"year 3000 booking date", camtDoc("02", camtHead+strings.Replace(ok, "2024-04-30", "3000-01-01", 1)), "Ntry[1]/BookgDt/Dt", "year 3000", 0},
		{"year 0000 creation time", camtDoc("02", strings.Replace(camtHead, "2024-05-01T08:00:00+02:00", "0000-01-01T00:00:00Z", 1)), "Stmt/CreDtTm", "outside 1900..2999", 0},
		{"year 0000 creation time with an offset", camtDoc("02", strings.Replace(camtHead, "2024-05-01T08:00:00+02:00", "0000-01-01T00:30:00+01:00", 1)), "Stmt/CreDtTm", "not a plausible date", 0},
		{"year 0000 period start", camtDoc("02", camtHead+"<FrToDt><FrDtTm>0000-01-01T00:00:00</FrDtTm><ToDtTm>2024-05-01T00:00:00</ToDtTm></FrToDt>"), "Stmt/FrToDt/FrDtTm", "outside 1900..2999", 0},
		{"duplicate ref", camtDoc("02", camtHead+camtNtry("1", "CRDT", "<Sts>BOOK</Sts>", "<NtryRef>A</NtryRef>")+camtNtry("2", "CRDT", "<Sts>BOOK</Sts>", "<NtryRef>A</NtryRef>")), "Ntry[2]", `"A" already used by Ntry[1]`, 0},
		{"balance currency", camtDoc("02", camtHead+strings.Replace(camtBal("OPBD", "1", "CRDT"), "EUR", "USD", 1)), "Bal[1]/Amt", "differs from statement currency", 0},
		{"two closing", camtDoc("02", camtHead+camtBal("CLBD", "1", "CRDT")+camtBal("CLBD", "2", "CRDT")), "Bal[2]", "more than one CLBD", 0},
		{"no currency", camtDoc("02", `<Id>S</Id>`), "Stmt/Acct/Ccy", "not 3 upper-case letters", 0},
		{"no id", camtDoc("02", `<Acct><Ccy>EUR</Ccy></Acct>`), "Stmt/Id", "missing", 0},
		{"malformed", camtDoc("02", camtHead+"\n\n<Ntry><Amt>"), "", "malformed camt.053", 5},
		{"trailing element", camtDoc("02", camtHead) + "<Document/>", "Document", "content after the Document element", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseCamt053(strings.NewReader(tt.doc))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Element != tt.element || !strings.Contains(pe.Error(), tt.inErr) || (tt.line != 0 && pe.Line != tt.line) {
				t.Errorf("err = %q (element %q, line %d), want element %q, line %d, containing %q", pe, pe.Element, pe.Line, tt.element, tt.line, tt.inErr)
			}
			if st.ID != "" || st.Lines != nil {
				t.Errorf("partial statement returned: %+v", st)
			}
		})
	}
}

func TestParseCamt053TooLarge(t *testing.T) {
	doc := camtDoc("02", camtHead+strings.Repeat(" ", MaxStatementBytes))
	_, err := ParseCamt053(strings.NewReader(doc))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func FuzzParseCamt053(f *testing.F) {
	sample, err := os.ReadFile(realCamtSample)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(camtDoc("08", camtHead+camtBal("OPBD", "1", "DBIT")+camtNtry("1.00", "CRDT", "<Sts><Cd>BOOK</Cd></Sts>", "<NtryRef>line-2</NtryRef>")+camtNtry("2", "DBIT", "<Sts>PDNG</Sts>", ""))))
	f.Add([]byte(camtDoc("02", camtHead, camtHead)))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseCamt053(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		checkAcceptedStatement(t, st)
	})
}

// checkAcceptedStatement asserts the invariants of every parsed statement.
func checkAcceptedStatement(t *testing.T, st Statement) {
	t.Helper()
	for _, d := range []time.Time{st.CreatedAt, st.FromDate, st.ToDate} {
		if !d.IsZero() && checkStatementYear(d) != "" {
			t.Fatalf("statement date %v accepted", d)
		}
	}
	refs := make(map[string]bool, len(st.Lines))
	for i, l := range st.Lines {
		if l.Index != i+1 {
			t.Fatalf("line %d has Index %d", i+1, l.Index)
		}
		if l.EntryRef == "" || refs[l.EntryRef] {
			t.Fatalf("line %d: EntryRef %q empty or duplicate", l.Index, l.EntryRef)
		}
		refs[l.EntryRef] = true
		if !validCurrency(l.Currency) {
			t.Fatalf("line %d: currency %q", l.Index, l.Currency)
		}
		if l.Status != StatusBooked && l.Status != StatusPending {
			t.Fatalf("line %d: status %q", l.Index, l.Status)
		}
		for _, d := range []time.Time{l.BookingDate, l.ValueDate} {
			if !d.IsZero() && checkStatementYear(d) != "" {
				t.Fatalf("line %d: date %v accepted", l.Index, d)
			}
		}
		for _, s := range []string{l.EntryRef, l.EndToEndID, l.AcctSvcrRef, l.Reference, l.Description, l.Counterparty} {
			if err := storableText(s); err != nil {
				t.Fatalf("line %d: %q %v", l.Index, s, err)
			}
		}
	}
	_ = st.CheckBalances() // must not panic
}
