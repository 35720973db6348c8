package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	signedMapping = CSVMapping{
		BookingDate: "date", ValueDate: "value", Amount: "amount", Currency: "currency",
		Reference: "reference", Description: "description", Counterparty: "name", EntryRef: "id",
	}
	germanMapping = CSVMapping{
		BookingDate: "Buchungstag", ValueDate: "Valuta", Amount: "Betrag", Reference: "Verwendungszweck",
		DefaultCurrency: "EUR", DateLayout: "02.01.2006", DecimalComma: true,
	}
	debitCreditMapping = CSVMapping{
		BookingDate: "Date", Debit: "Debit", Credit: "Credit", Description: "Details", DefaultCurrency: "GBP",
	}
)

const (
	signedCSV = "id,date,value,amount,currency,reference,description,name\r\n" +
		"tx-1,2024-03-01,2024-03-02,1200.50,EUR,ESC-1001,\"Deposit, escrow 1001\",Buyer Ltd\r\n" +
		"tx-2,2024-03-01,,-1200.50,EUR,ESC-1001,Release,\"Seller \"\"S\"\" BV\"\r\n" +
		",2024-03-04,,\"1,000.00\",USD,,,\r\n" +
		"\r\n,,,,,,,\r\n\r\n"
	germanCSV = utf8BOM + "Buchungstag;Valuta;Betrag;Verwendungszweck\n" +
		"02.01.2024;03.01.2024;-1.234,56;\"Miete; Januar\"\n" +
		"\n" +
		"05.01.2024;05.01.2024;12,3;ESC-7\n" +
		"06.01.2024;;+0,01;\n" +
		"   \n"
	debitCreditCSV = "Date,Debit,Credit,Details\n" +
		"2024-02-01,10.00,,card fee\n" +
		"2024-02-02,,250,incoming\n" +
		"2024-02-03,0.00,5.5,\"both columns, one zero\"\n"
)

func TestParseCSVStatement(t *testing.T) {
	tests := []struct {
		name     string
		csv      string
		mapping  CSVMapping
		currency string
		want     []StatementLine
	}{
		{
			name: "comma, signed amount", csv: signedCSV, mapping: signedMapping, currency: "",
			want: []StatementLine{
				{Index: 1, EntryRef: "tx-1", Amount: dec(t, "1200.5"), Currency: "EUR", BookingDate: day(2024, 3, 1), ValueDate: day(2024, 3, 2),
					Status: StatusBooked, Reference: "ESC-1001", Description: "Deposit, escrow 1001", Counterparty: "Buyer Ltd"},
				{Index: 2, EntryRef: "tx-2", Amount: dec(t, "-1200.5"), Currency: "EUR", BookingDate: day(2024, 3, 1),
					Status: StatusBooked, Reference: "ESC-1001", Description: "Release", Counterparty: `Seller "S" BV`},
				{Index: 3, EntryRef: "line-3", Amount: dec(t, "1000"), Currency: "USD", BookingDate: day(2024, 3, 4), Status: StatusBooked},
			},
		},
		{
			name: "semicolon, decimal comma, BOM", csv: germanCSV, mapping: germanMapping, currency: "EUR",
			want: []StatementLine{
				{Index: 1, EntryRef: "line-1", Amount: dec(t, "-1234.56"), Currency: "EUR", BookingDate: day(2024, 1, 2), ValueDate: day(2024, 1, 3),
					Status: StatusBooked, Reference: "Miete; Januar"},
				{Index: 2, EntryRef: "line-2", Amount: dec(t, "12.3"), Currency: "EUR", BookingDate: day(2024, 1, 5), ValueDate: day(2024, 1, 5),
					Status: StatusBooked, Reference: "ESC-7"},
				{Index: 3, EntryRef: "line-3", Amount: dec(t, "0.01"), Currency: "EUR", BookingDate: day(2024, 1, 6), Status: StatusBooked},
			},
		},
		{
			name: "debit and credit columns", csv: debitCreditCSV,
			mapping: debitCreditMapping, currency: "GBP",
			want: []StatementLine{
				{Index: 1, EntryRef: "line-1", Amount: dec(t, "-10"), Currency: "GBP", BookingDate: day(2024, 2, 1), Status: StatusBooked, Description: "card fee"},
				{Index: 2, EntryRef: "line-2", Amount: dec(t, "250"), Currency: "GBP", BookingDate: day(2024, 2, 2), Status: StatusBooked, Description: "incoming"},
				{Index: 3, EntryRef: "line-3", Amount: dec(t, "5.5"), Currency: "GBP", BookingDate: day(2024, 2, 3), Status: StatusBooked, Description: "both columns, one zero"},
			},
		},
		{
			name: "explicit separator, header only", csv: "date|amount\n", mapping: CSVMapping{BookingDate: "date", Amount: "amount", DefaultCurrency: "CHF", Comma: '|'},
			currency: "CHF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseCSVStatement(strings.NewReader(tt.csv), tt.mapping)
			if err != nil {
				t.Fatalf("ParseCSVStatement: %v", err)
			}
			sum := sha256.Sum256([]byte(tt.csv))
			if st.ID != hex.EncodeToString(sum[:]) {
				t.Errorf("ID = %q, want SHA-256 of the file", st.ID)
			}
			if st.Currency != tt.currency || st.OpeningBalance != nil || st.ClosingBalance != nil || !st.CreatedAt.IsZero() {
				t.Errorf("statement = %q %v %v %v", st.Currency, st.OpeningBalance, st.ClosingBalance, st.CreatedAt)
			}
			if len(st.Lines) != len(tt.want) {
				t.Fatalf("got %d lines, want %d: %+v", len(st.Lines), len(tt.want), st.Lines)
			}
			for i, w := range tt.want {
				// Where each line was read from (for errors found after
				// parsing): checked by TestImportErrors.
				if st.Lines[i].FileLine <= 1 || st.Lines[i].AmountColumn == "" {
					t.Errorf("line %d: file line %d, amount column %q", i+1, st.Lines[i].FileLine, st.Lines[i].AmountColumn)
				}
				w.FileLine, w.AmountColumn = st.Lines[i].FileLine, st.Lines[i].AmountColumn
				assertLine(t, st.Lines[i], w)
			}
			if !errors.Is(st.CheckBalances(), ErrNoBalances) {
				t.Errorf("CheckBalances should report ErrNoBalances for CSV")
			}
		})
	}

	m := signedMapping
	m.StatementID = "psp-2024-03"
	if st, err := ParseCSVStatement(strings.NewReader(signedCSV), m); err != nil || st.ID != "psp-2024-03" {
		t.Errorf("caller-supplied ID: %q, %v", st.ID, err)
	}
}

func TestParseCSVStatementErrors(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		mapping CSVMapping
		line    int
		element string
		inErr   string
	}{
		{"missing column", "date,amt\n2024-01-01,1\n", CSVMapping{BookingDate: "date", Amount: "amount", DefaultCurrency: "EUR"}, 1, "amount", `column "amount" not in header`},
		{"missing optional column", "date,amount\n", CSVMapping{BookingDate: "date", Amount: "amount", Reference: "ref", DefaultCurrency: "EUR"}, 1, "ref", `column "ref" not in header`},
		{"duplicate column", "date,amount,amount\n", CSVMapping{BookingDate: "date", Amount: "amount", DefaultCurrency: "EUR"}, 1, "amount", "more than once"},
		{"bad date", "date,amount\n2024-01-01,1\n\n2024-13-01,2\n", CSVMapping{BookingDate: "date", Amount: "amount", DefaultCurrency: "EUR"}, 4, "date", `booking date "2024-13-01" does not match layout "2006-01-02"`},
		{"year 0000 booking date", "booking_date,amount\n2024-01-01,1\n0000-03-01,1.00\n", CSVMapping{BookingDate: "booking_date", Amount: "amount", DefaultCurrency: "EUR"}, 3, "booking_date", `booking date "0000-03-01" is not plausible: year 0 is outside 1900..2999`},
		{"year 0000 value date", "booking_date,value_date,amount\n2026-03-01,0000-01-01,1.00\n", CSVMapping{BookingDate: "booking_date", ValueDate: "value_date", Amount: "amount", DefaultCurrency: "EUR"}, 2, "value_date", `value date "0000-01-01" is not plausible`},
		{"year 1899 booking date", "d,a\n31.12.1899,1\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR", DateLayout: "02.01.2006"}, 2, "d", "year 1899 is outside"},
		{"year 3000 value date", "d,v,a\n2026-03-01,3000-01-01,1\n", CSVMapping{BookingDate: "d", ValueDate: "v", Amount: "a", DefaultCurrency: "EUR"}, 2, "v", "year 3000 is outside"},
		{"empty date", "date,amount\n,1\n", CSVMapping{BookingDate: "date", Amount: "amount", DefaultCurrency: "EUR"}, 2, "date", "booking date is empty"},
		{"bad value date", germanCSV, func() CSVMapping { m := germanMapping; m.DateLayout = "2006-01-02"; return m }(), 2, "Buchungstag", "does not match layout"},
		{"bad amount", "d;a\n2024-01-01;1\n2024-01-02;2\n2024-01-03;12,3x\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR", DecimalComma: true}, 4, "a", `amount "12,3x" is not a plain decimal`},
		{"decimal comma not declared", "d;a\n2024-01-01;12,30\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 2, "a", `amount "12,30" is not a plain decimal`},
		{"bad thousands group", "d;a\n2024-01-01;1.23,00\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR", DecimalComma: true}, 2, "a", "not a plain decimal"},
		{"exponent", "d,a\n2024-01-01,1e5\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 2, "a", "not a plain decimal"},
		{"empty amount", "d,a\n2024-01-01,\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 2, "a", `amount ""`},
		{"both debit and credit", debitCreditCSV + "2024-02-04,1,2,x\n", debitCreditMapping, 5, "Debit", "both debit"},
		{"neither debit nor credit", "Date,Debit,Credit,Details\n2024-02-04,,,x\n", debitCreditMapping, 2, "Debit", "neither"},
		{"signed debit", "Date,Debit,Credit,Details\n2024-02-04,-1,,x\n", debitCreditMapping, 2, "Debit", `debit "-1" must be unsigned`},
		{"lower-case currency", "d,a,c\n2024-01-01,1,eur\n", CSVMapping{BookingDate: "d", Amount: "a", Currency: "c"}, 2, "c", `currency "eur"`},
		{"empty currency, no default", "d,a,c\n2024-01-01,1,\n", CSVMapping{BookingDate: "d", Amount: "a", Currency: "c"}, 2, "c", `currency ""`},
		{"field count", "d,a\n2024-01-01,1,extra\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 2, "", "has 3 fields, header has 2"},
		{"duplicate entry ref", "id,d,a\nX,2024-01-01,1\nX,2024-01-02,1\n", CSVMapping{EntryRef: "id", BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 3, "id", `"X" already used on line 2`},
		{"derived ref collides", "id,d,a\n,2024-01-01,1\nline-1,2024-01-02,1\n", CSVMapping{EntryRef: "id", BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 3, "id", "already used"},
		{"Latin-1 counterparty", "d,a,who\n2024-01-01,1,ok\n2024-01-02,2,M\xfcller GmbH\n", CSVMapping{BookingDate: "d", Amount: "a", Counterparty: "who", DefaultCurrency: "EUR"}, 3, "who", `"M\xfcller GmbH" is not UTF-8`},
		{"Windows-1252 reference", "d;a;ref\n2024-01-01;1;Miete \x96 M\xe4rz\n", CSVMapping{BookingDate: "d", Amount: "a", Reference: "ref", DefaultCurrency: "EUR"}, 2, "ref", "is not UTF-8"},
		{"NUL in description", "d,a,text\n2024-01-01,1,\"a\x00b\"\n", CSVMapping{BookingDate: "d", Amount: "a", Description: "text", DefaultCurrency: "EUR"}, 2, "text", "contains a NUL character"},
		{"NUL in entry ref", "id,d,a\nX\x00,2024-01-01,1\n", CSVMapping{EntryRef: "id", BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 2, "id", "contains a NUL character"},
		{"bad quote", "d,a\n2024-01-01,1\n2024-01-02,\"1\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 3, "", "malformed CSV"},
		{"empty file", "", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 1, "", "no header line"},
		{"BOM only", utf8BOM + "\n\n", CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}, 1, "", "no header line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseCSVStatement(strings.NewReader(tt.csv), tt.mapping)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Line != tt.line || pe.Element != tt.element || !strings.Contains(pe.Error(), tt.inErr) {
				t.Errorf("err = %q (line %d, element %q), want line %d, element %q, containing %q", pe, pe.Line, pe.Element, tt.line, tt.element, tt.inErr)
			}
			if st.ID != "" || st.Lines != nil {
				t.Errorf("partial statement returned: %+v", st)
			}
		})
	}
}

func TestCSVMappingValidate(t *testing.T) {
	base := CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}
	tests := []struct {
		name  string
		edit  func(*CSVMapping)
		field string // "" = valid
	}{
		{"valid", func(*CSVMapping) {}, ""},
		{"valid debit/credit", func(m *CSVMapping) { m.Amount, m.Debit, m.Credit = "", "dr", "cr" }, ""},
		{"valid currency column only", func(m *CSVMapping) { m.DefaultCurrency, m.Currency = "", "c" }, ""},
		{"valid layout", func(m *CSVMapping) { m.DateLayout = "02/01/2006" }, ""},
		{"no booking date", func(m *CSVMapping) { m.BookingDate = "" }, "BookingDate"},
		{"no amount", func(m *CSVMapping) { m.Amount = "" }, "Amount"},
		{"amount and debit", func(m *CSVMapping) { m.Debit, m.Credit = "dr", "cr" }, "Amount"},
		{"debit without credit", func(m *CSVMapping) { m.Amount, m.Debit = "", "dr" }, "Amount"},
		{"same debit and credit", func(m *CSVMapping) { m.Amount, m.Debit, m.Credit = "", "x", "x" }, "Debit"},
		{"no currency", func(m *CSVMapping) { m.DefaultCurrency = "" }, "Currency"},
		{"bad default currency", func(m *CSVMapping) { m.DefaultCurrency = "eur" }, "DefaultCurrency"},
		{"quote separator", func(m *CSVMapping) { m.Comma = '"' }, "Comma"},
		{"newline separator", func(m *CSVMapping) { m.Comma = '\n' }, "Comma"},
		{"layout without day", func(m *CSVMapping) { m.DateLayout = "2006-01" }, "DateLayout"},
		{"nonsense layout", func(m *CSVMapping) { m.DateLayout = "dd.mm.yyyy" }, "DateLayout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.edit(&m)
			err := m.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var me *MappingError
			if !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("Validate = %v, want *MappingError on %s", err, tt.field)
			}
			if _, perr := ParseCSVStatement(strings.NewReader("d,a\n"), m); !errors.As(perr, &me) {
				t.Errorf("ParseCSVStatement did not reject the mapping: %v", perr)
			}
		})
	}
}

func TestParseCSVStatementLimits(t *testing.T) {
	m := CSVMapping{BookingDate: "d", Amount: "a", DefaultCurrency: "EUR"}
	var b bytes.Buffer
	b.WriteString("d,a\n")
	for i := 0; i <= MaxCSVLines; i++ {
		b.WriteString("2024-01-01,1\n")
	}
	_, err := ParseCSVStatement(&b, m)
	var pe *ParseError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Line != MaxCSVLines+2 {
		t.Errorf("too many rows: err = %v", err)
	}

	big := strings.NewReader("d,a\n" + strings.Repeat(" ", MaxCSVBytes))
	if _, err := ParseCSVStatement(big, m); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too many bytes: err = %v", err)
	}
}

func FuzzParseCSVStatement(f *testing.F) {
	mappings := []CSVMapping{signedMapping, germanMapping, debitCreditMapping,
		{BookingDate: "d", Amount: "a", EntryRef: "id", DefaultCurrency: "EUR"}}
	f.Add([]byte(signedCSV), uint8(0))
	f.Add([]byte(germanCSV), uint8(1))
	f.Add([]byte(debitCreditCSV), uint8(2))
	f.Add([]byte("id,d,a\n,2024-01-01,1\nline-1,2024-01-02,-1\nline-9,2024-01-03,\"1,000.5\"\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		m := mappings[int(which)%len(mappings)]
		st, err := ParseCSVStatement(bytes.NewReader(data), m)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error is not a *ParseError with a line: %v", err)
			}
			return
		}
		checkAcceptedStatement(t, st)
		for _, l := range st.Lines {
			if l.Status != StatusBooked || l.BookingDate.Equal(time.Time{}) {
				t.Fatalf("line %d: status %q, booking date %v", l.Index, l.Status, l.BookingDate)
			}
		}
	})
}
