package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/valid"
)

// defaultCSVDateLayout is used when CSVMapping.DateLayout is empty.
const defaultCSVDateLayout = "2006-01-02"

// utf8BOM is stripped from the start of a CSV file.
const utf8BOM = "\xEF\xBB\xBF"

// CSVMapping says how to read a bank or PSP CSV export. Column names are
// matched against the header line exactly, after trimming spaces.
type CSVMapping struct {
	BookingDate string // column with the booking date; required
	ValueDate   string // column with the value date; optional, an empty cell gives the zero time

	Amount string // column with a signed amount (credit positive), OR
	Debit  string // column with the unsigned debit amount, and
	Credit string // column with the unsigned credit amount; one of the two filled per row (the other empty or zero)

	Currency     string // column with the currency code; optional if DefaultCurrency is set
	Reference    string // column with the payment reference; optional
	Description  string // column with free text; optional
	Counterparty string // column with the other party's name; optional
	EntryRef     string // column with a row reference unique in the file; optional, else derived from the row index

	DefaultCurrency string // currency when there is no currency column or its cell is empty
	StatementID     string // Statement.ID; default: hex SHA-256 of the file's bytes

	DateLayout string // Go time layout for both dates, default "2006-01-02"; dates are UTC
	Comma      rune   // field separator; 0 = auto-detect ',' or ';' from the header line
	// DecimalComma selects "1.234,56" amounts (',' decimal, '.' thousands)
	// instead of "1,234.56". It is never inferred, not even from a ';'
	// separator: a wrong guess would scale amounts by 100 or 1000.
	DecimalComma bool
}

// Validate checks that the mapping can be used at all; it does not look at a file.
func (m CSVMapping) Validate() error {
	if m.BookingDate == "" {
		return &MappingError{Field: "BookingDate", Reason: "column name required"}
	}
	switch {
	case m.Amount != "" && (m.Debit != "" || m.Credit != ""):
		return &MappingError{Field: "Amount", Reason: "set either Amount or Debit and Credit, not both"}
	case m.Amount == "" && (m.Debit == "" || m.Credit == ""):
		return &MappingError{Field: "Amount", Reason: "set Amount, or both Debit and Credit"}
	case m.Amount == "" && m.Debit == m.Credit:
		return &MappingError{Field: "Debit", Reason: "Debit and Credit must be different columns"}
	}
	if m.DefaultCurrency != "" && !validCurrency(m.DefaultCurrency) {
		return &MappingError{Field: "DefaultCurrency", Reason: fmt.Sprintf("%q is not 3 upper-case letters", m.DefaultCurrency)}
	}
	if m.Currency == "" && m.DefaultCurrency == "" {
		return &MappingError{Field: "Currency", Reason: "set a Currency column or a DefaultCurrency"}
	}
	if m.Comma != 0 && (m.Comma == '"' || m.Comma == '\r' || m.Comma == '\n' || !utf8.ValidRune(m.Comma) || m.Comma == utf8.RuneError) {
		return &MappingError{Field: "Comma", Reason: fmt.Sprintf("%q cannot separate fields", m.Comma)}
	}
	// A usable layout must carry year, month and day through a round trip.
	ref := time.Date(2021, time.March, 4, 0, 0, 0, 0, time.UTC)
	if got, err := time.Parse(m.dateLayout(), ref.Format(m.dateLayout())); err != nil || got.Year() != 2021 || got.Month() != time.March || got.Day() != 4 {
		return &MappingError{Field: "DateLayout", Reason: fmt.Sprintf("%q does not give year, month and day", m.DateLayout)}
	}
	return nil
}

func (m CSVMapping) dateLayout() string {
	if m.DateLayout == "" {
		return defaultCSVDateLayout
	}
	return m.DateLayout
}

// csvColumns holds the header position of each mapped column; -1 if unmapped.
type csvColumns struct {
	bookingDate, valueDate, amount, debit, credit         int
	currency, reference, description, counterparty, entry int
}

// ParseCSVStatement reads a CSV statement with a header line, as described by
// m. It accepts a UTF-8 BOM, ',' or ';' separators, quoted fields and blank
// lines (skipped; so are rows whose fields are all blank). Text cells must
// be UTF-8 without NUL. Lines get Status
// booked and Index 1..n in row order. Balances, dates of the statement and
// CreatedAt stay unset. Every failure is a *MappingError or a *ParseError
// naming the 1-based file line, and no partial Statement is returned.
func ParseCSVStatement(r io.Reader, m CSVMapping) (Statement, error) {
	if err := m.Validate(); err != nil {
		return Statement{}, err
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxCSVBytes+1))
	if err != nil {
		return Statement{}, &ParseError{Reason: "reading CSV", Err: err}
	}
	if len(data) > MaxCSVBytes {
		return Statement{}, &ParseError{Reason: fmt.Sprintf("file exceeds %d bytes", MaxCSVBytes), Err: ErrTooLarge}
	}
	st := Statement{ID: m.StatementID}
	if st.ID == "" {
		sum := sha256.Sum256(data)
		st.ID = hex.EncodeToString(sum[:])
	}
	body := bytes.TrimPrefix(data, []byte(utf8BOM))
	cr := csv.NewReader(bytes.NewReader(body))
	cr.Comma = m.Comma
	if cr.Comma == 0 {
		cr.Comma = detectComma(body)
	}
	cr.FieldsPerRecord = -1 // checked below, after skipping blank rows
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Statement{}, &ParseError{Line: 1, Reason: "no header line"}
	}
	if err != nil {
		return Statement{}, csvReadError(err)
	}
	headerLine, _ := cr.FieldPos(0)
	nFields := len(header)
	cols, err := m.columns(header, headerLine)
	if err != nil {
		return Statement{}, err
	}

	seen := make(map[string]int) // EntryRef → file line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Statement{}, csvReadError(err)
		}
		line, _ := cr.FieldPos(0)
		if blankRecord(rec) {
			continue
		}
		if len(rec) != nFields {
			return Statement{}, &ParseError{Line: line, Reason: fmt.Sprintf("has %d fields, header has %d", len(rec), nFields)}
		}
		if len(st.Lines) == MaxCSVLines {
			return Statement{}, &ParseError{Line: line, Reason: fmt.Sprintf("more than %d rows", MaxCSVLines), Err: ErrTooLarge}
		}
		l, err := m.line(rec, cols, len(st.Lines)+1, line)
		if err != nil {
			return Statement{}, err
		}
		if prev, dup := seen[l.EntryRef]; dup {
			return Statement{}, &ParseError{Line: line, Element: m.EntryRef, Reason: fmt.Sprintf("entry reference %q already used on line %d", l.EntryRef, prev)}
		}
		seen[l.EntryRef] = line
		st.Lines = append(st.Lines, l)
	}
	st.Currency = commonCurrency(st.Lines, m.DefaultCurrency)
	return st, nil
}

// columns finds each mapped column in the header. A mapped column that is
// missing, or that appears more than once, is an error naming the column.
func (m CSVMapping) columns(header []string, line int) (csvColumns, error) {
	pos := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := pos[h]; dup {
			pos[h] = -2 // ambiguous; only an error if mapped
			continue
		}
		pos[h] = i
	}
	find := func(name string, dst *int) error {
		*dst = -1
		if name == "" {
			return nil
		}
		i, ok := pos[name]
		switch {
		case !ok:
			return &ParseError{Line: line, Element: name, Reason: fmt.Sprintf("column %q not in header", name)}
		case i < 0:
			return &ParseError{Line: line, Element: name, Reason: fmt.Sprintf("column %q appears more than once in header", name)}
		}
		*dst = i
		return nil
	}
	var c csvColumns
	for _, f := range []struct {
		name string
		dst  *int
	}{
		{m.BookingDate, &c.bookingDate}, {m.ValueDate, &c.valueDate},
		{m.Amount, &c.amount}, {m.Debit, &c.debit}, {m.Credit, &c.credit},
		{m.Currency, &c.currency}, {m.Reference, &c.reference}, {m.Description, &c.description},
		{m.Counterparty, &c.counterparty}, {m.EntryRef, &c.entry},
	} {
		if err := find(f.name, f.dst); err != nil {
			return csvColumns{}, err
		}
	}
	return c, nil
}

// line converts one data row; index is its 1-based position among the rows,
// fileLine its line in the file (for errors).
func (m CSVMapping) line(rec []string, c csvColumns, index, fileLine int) (StatementLine, error) {
	cell := func(i int) string {
		if i < 0 {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	fail := func(column, reason string) error {
		return &ParseError{Line: fileLine, Element: column, Reason: reason}
	}
	l := StatementLine{Index: index, Status: StatusBooked}
	for _, f := range []struct {
		column string
		i      int
		dst    *string
	}{
		{m.EntryRef, c.entry, &l.EntryRef}, {m.Reference, c.reference, &l.Reference},
		{m.Description, c.description, &l.Description}, {m.Counterparty, c.counterparty, &l.Counterparty},
	} {
		v := cell(f.i)
		if err := storableText(v); err != nil {
			return StatementLine{}, fail(f.column, fmt.Sprintf("%q %s", v, err.Error()))
		}
		*f.dst = v
	}
	if l.EntryRef == "" {
		l.EntryRef = derivedEntryRef(index)
	}

	layout := m.dateLayout()
	v := cell(c.bookingDate)
	if v == "" {
		return StatementLine{}, fail(m.BookingDate, "booking date is empty")
	}
	var err error
	if l.BookingDate, err = time.Parse(layout, v); err != nil {
		return StatementLine{}, fail(m.BookingDate, fmt.Sprintf("booking date %q does not match layout %q", v, layout))
	}
	if why := checkStatementYear(l.BookingDate); why != "" {
		return StatementLine{}, fail(m.BookingDate, fmt.Sprintf("booking date %q is not plausible: %s", v, why))
	}
	if v = cell(c.valueDate); v != "" {
		if l.ValueDate, err = time.Parse(layout, v); err != nil {
			return StatementLine{}, fail(m.ValueDate, fmt.Sprintf("value date %q does not match layout %q", v, layout))
		}
		if why := checkStatementYear(l.ValueDate); why != "" {
			return StatementLine{}, fail(m.ValueDate, fmt.Sprintf("value date %q is not plausible: %s", v, why))
		}
	}

	if c.amount >= 0 {
		v = cell(c.amount)
		if l.Amount, err = parseCSVAmount(v, m.DecimalComma, true); err != nil {
			return StatementLine{}, fail(m.Amount, fmt.Sprintf("amount %q %s", v, err.Error()))
		}
		l.AmountColumn = m.Amount
	} else if l.Amount, err = m.debitCredit(cell(c.debit), cell(c.credit), fail); err != nil {
		return StatementLine{}, err
	} else if l.AmountColumn = m.Credit; cell(c.debit) != "" && (l.Amount.IsNegative() || cell(c.credit) == "") {
		l.AmountColumn = m.Debit
	}
	l.FileLine = fileLine

	l.Currency = cell(c.currency)
	if l.Currency == "" {
		l.Currency = m.DefaultCurrency
	}
	if !validCurrency(l.Currency) {
		return StatementLine{}, fail(m.Currency, fmt.Sprintf("currency %q is not 3 upper-case letters", l.Currency))
	}
	return l, nil
}

// storableText rejects text the database cannot store: bytes that are not
// UTF-8 (an export in Latin-1 or Windows-1252) and NUL.
func storableText(s string) error {
	switch {
	case valid.Storable(s):
		return nil
	case !utf8.ValidString(s):
		return errors.New("is not UTF-8 text; export the file as UTF-8")
	default:
		return errors.New("contains a NUL character")
	}
}

// debitCredit combines the two unsigned columns into a signed amount. Exactly
// one must be non-zero; an empty or zero other cell is accepted, and a row
// with both cells zero gives zero.
func (m CSVMapping) debitCredit(debit, credit string, fail func(column, reason string) error) (decimal.Decimal, error) {
	if debit == "" && credit == "" {
		return decimal.Decimal{}, fail(m.Debit, fmt.Sprintf("neither %q nor %q is filled", m.Debit, m.Credit))
	}
	d, c := decimal.Zero, decimal.Zero
	var err error
	if debit != "" {
		if d, err = parseCSVAmount(debit, m.DecimalComma, false); err != nil {
			return decimal.Decimal{}, fail(m.Debit, fmt.Sprintf("debit %q %s", debit, err.Error()))
		}
	}
	if credit != "" {
		if c, err = parseCSVAmount(credit, m.DecimalComma, false); err != nil {
			return decimal.Decimal{}, fail(m.Credit, fmt.Sprintf("credit %q %s", credit, err.Error()))
		}
	}
	if !d.IsZero() && !c.IsZero() {
		return decimal.Decimal{}, fail(m.Debit, fmt.Sprintf("both debit %q and credit %q are filled", debit, credit))
	}
	return c.Sub(d), nil
}

// errCSVSigned rejects a sign in an unsigned (Debit/Credit) column.
var errCSVSigned = errors.New("must be unsigned")

// parseCSVAmount parses an amount with an optional sign (if signed), an
// optional decimal separator and thousands separators in groups of three:
// "1,234.56" or, with decimalComma, "1.234,56".
func parseCSVAmount(s string, decimalComma, signed bool) (decimal.Decimal, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if !signed {
			return decimal.Decimal{}, errCSVSigned
		}
		neg = s[0] == '-'
		s = s[1:]
	}
	decSep, groupSep := ".", ","
	if decimalComma {
		decSep, groupSep = ",", "."
	}
	intPart, frac, hasFrac := strings.Cut(s, decSep)
	if strings.Contains(intPart, groupSep) {
		groups := strings.Split(intPart, groupSep)
		if len(groups[0]) < 1 || len(groups[0]) > 3 {
			return decimal.Decimal{}, errNotDecimal
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return decimal.Decimal{}, errNotDecimal
			}
		}
		intPart = strings.Join(groups, "")
	}
	plain := intPart
	if hasFrac {
		plain += "." + frac // a second separator in frac fails below
	}
	d, err := parseUnsignedAmount(plain)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if neg {
		d = d.Neg()
	}
	return d, nil
}

// detectComma picks ';' or ',' by counting both, outside quotes, in the
// header line; ',' wins a tie.
func detectComma(body []byte) rune {
	inQuotes := false
	commas, semis := 0, 0
	for _, b := range body {
		switch {
		case b == '"':
			inQuotes = !inQuotes
		case inQuotes:
		case b == '\n':
			if semis > commas {
				return ';'
			}
			return ','
		case b == ',':
			commas++
		case b == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// csvReadError turns an encoding/csv error into a *ParseError with its line.
func csvReadError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Reason: fmt.Sprintf("malformed CSV at column %d", pe.Column), Err: pe.Err}
	}
	return &ParseError{Reason: "reading CSV", Err: err}
}

// commonCurrency is the currency shared by all lines, fallback if there are
// no lines, and "" if the lines are in more than one currency.
func commonCurrency(lines []StatementLine, fallback string) string {
	if len(lines) == 0 {
		return fallback
	}
	c := lines[0].Currency
	for _, l := range lines[1:] {
		if l.Currency != c {
			return ""
		}
	}
	return c
}
