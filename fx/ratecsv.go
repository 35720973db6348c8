package fx

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

const (
	// MaxCSVRows is the number of data rows accepted in a rates CSV file.
	MaxCSVRows = 10000
	// MaxCSVBytes is the size of the largest rates CSV file accepted.
	MaxCSVBytes = 2 << 20
	// CSVSource is the Source of rates from a CSV file without a source
	// column, or with an empty source.
	CSVSource = "csv"
	// maxAsOfLength bounds the as_of field.
	maxAsOfLength = 40
)

var (
	csvHeader       = []string{"base", "quote", "rate", "as_of"}
	csvHeaderSource = []string{"base", "quote", "rate", "as_of", "source"}
	utf8BOM         = []byte{0xEF, 0xBB, 0xBF}
	errTooLarge     = errors.New("input too large")
)

// setKey groups CSV rows into rate sets.
type setKey struct {
	base   string
	sec    int64
	nsec   int
	source string
}

// ParseRatesCSV reads rates from CSV with the header
// "base,quote,rate,as_of" or "base,quote,rate,as_of,source" (in that order,
// an optional UTF-8 BOM first). as_of is RFC 3339 or YYYY-MM-DD (midnight
// UTC); an absent or empty source is CSVSource. Rows are grouped into
// RateSets by (base, as_of instant, source), in order of first appearance;
// each set is validated. At most MaxCSVRows data rows and MaxCSVBytes bytes.
// Errors are *ParseError with the 1-based line number and a reason.
func ParseRatesCSV(r io.Reader) ([]RateSet, error) {
	br := bufio.NewReader(&limitReader{r: r, left: MaxCSVBytes})
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == string(utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, csvError(err, 1)
	}
	withSource := slices.Equal(header, csvHeaderSource)
	if !withSource && !slices.Equal(header, csvHeader) {
		return nil, &ParseError{Line: 1, Reason: "header must be base,quote,rate,as_of[,source]"}
	}
	var (
		sets  []RateSet
		index = map[setKey]int{}
		rows  = 0
		line  = 1 // line of the last record read
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err, line+1) // csv errors carry their own line
		}
		line, _ = cr.FieldPos(0) // only valid after a successful Read
		if rows++; rows > MaxCSVRows {
			return nil, &ParseError{Line: line, Reason: fmt.Sprintf("more than %d rows", MaxCSVRows)}
		}
		base, quote, rate, asOf, source, perr := parseCSVRow(rec, withSource)
		if perr != nil {
			perr.Line = line
			return nil, perr
		}
		key := setKey{base: base, sec: asOf.Unix(), nsec: asOf.Nanosecond(), source: source}
		i, ok := index[key]
		if !ok {
			i = len(sets)
			index[key] = i
			sets = append(sets, RateSet{Base: base, AsOf: asOf, Source: source, Rates: map[string]decimal.Decimal{}, lines: map[string]int{}})
		}
		set := &sets[i]
		if _, dup := set.Rates[quote]; dup {
			return nil, &ParseError{Line: line, Element: "quote", Reason: fmt.Sprintf("duplicate %s/%s rate in the same set", base, quote)}
		}
		if len(set.Rates) == MaxRatesPerSet {
			return nil, &ParseError{Line: line, Reason: fmt.Sprintf("more than %d rates in one set", MaxRatesPerSet)}
		}
		set.Rates[quote] = rate
		set.lines[quote] = line
	}
	if len(sets) == 0 {
		return nil, &ParseError{Line: 1, Reason: "no data rows after the header"}
	}
	for _, s := range sets {
		if err := s.Validate(); err != nil { // unreachable after the row checks; kept as the invariant
			return nil, &ParseError{Reason: err.Error(), Err: err}
		}
	}
	return sets, nil
}

// parseCSVRow checks one data row; the caller sets the line.
func parseCSVRow(rec []string, withSource bool) (base, quote string, rate decimal.Decimal, asOf time.Time, source string, perr *ParseError) {
	base, quote, source = rec[0], rec[1], CSVSource
	if err := lookupRateCurrency(base); err != nil {
		return "", "", rate, asOf, "", &ParseError{Element: "base", Reason: "unknown currency " + quoteShort(base), Err: err}
	}
	if err := lookupRateCurrency(quote); err != nil {
		return "", "", rate, asOf, "", &ParseError{Element: "quote", Reason: "unknown currency " + quoteShort(quote), Err: err}
	}
	if base == quote {
		return "", "", rate, asOf, "", &ParseError{Element: "quote", Reason: "same as base"}
	}
	rate, err := parseRate(rec[2])
	if err != nil {
		return "", "", rate, asOf, "", &ParseError{Element: "rate", Reason: err.Error(), Err: err}
	}
	asOf, err = parseAsOf(rec[3])
	if err != nil {
		return "", "", rate, asOf, "", &ParseError{Element: "as_of", Reason: err.Error(), Err: err}
	}
	if withSource && rec[4] != "" {
		source = rec[4]
		if err := validateSource(source); err != nil {
			return "", "", rate, asOf, "", &ParseError{Element: "source", Reason: err.Error(), Err: err}
		}
	}
	return base, quote, rate, asOf, source, nil
}

// asOfPrecision is the precision of a stored as_of (fx_rates.as_of,
// TIMESTAMPTZ, keeps microseconds). The parsers truncate as_of to it, so
// that rows they tell apart are rows the database tells apart: two rows
// 100 ns apart are the same key to the database, and a parser that kept
// nanoseconds took them for two sets and let the duplicate through.
const asOfPrecision = time.Microsecond

// parseAsOf accepts RFC 3339 or YYYY-MM-DD (midnight UTC) in MinRateYear
// or later and returns UTC, truncated to asOfPrecision.
func parseAsOf(s string) (time.Time, error) {
	if len(s) > maxAsOfLength {
		return time.Time{}, fmt.Errorf("as_of longer than %d characters", maxAsOfLength)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, fmt.Errorf("as_of %s is neither RFC 3339 nor YYYY-MM-DD: %w", quoteShort(s), err)
		}
	}
	if t = t.UTC().Truncate(asOfPrecision); t.IsZero() {
		return time.Time{}, fmt.Errorf("as_of is the zero time")
	}
	if t.Year() < MinRateYear {
		return time.Time{}, fmt.Errorf("as_of %s is before %d (UTC)", quoteShort(s), MinRateYear)
	}
	return t, nil
}

// csvError converts a CSV reading error into a *ParseError.
func csvError(err error, line int) error {
	if errors.Is(err, errTooLarge) {
		return &ParseError{Line: line, Reason: fmt.Sprintf("file larger than %d bytes", MaxCSVBytes), Err: err}
	}
	var ce *csv.ParseError
	if errors.As(err, &ce) {
		return &ParseError{Line: ce.Line, Reason: ce.Err.Error(), Err: err}
	}
	if err == io.EOF {
		return &ParseError{Line: line, Reason: "empty file: missing header"}
	}
	return fmt.Errorf("fx: read rates CSV: %w", err)
}

// limitReader reads at most left bytes from r, then fails with errTooLarge
// (unlike io.LimitReader, which would end the input silently).
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe for one more byte to tell "exactly the limit" from "more".
		var b [1]byte
		n, err := l.r.Read(b[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
