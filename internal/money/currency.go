// Package money holds escrowd's currency table (ISO 4217) and the strict
// parsing, formatting and rounding of amounts. Amounts are always
// decimal.Decimal, never float.
package money

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 currency.
type Currency struct {
	// Code is the three-letter upper-case alphabetic code, e.g. "EUR".
	Code string
	// Numeric is the three-digit numeric code, e.g. "978".
	Numeric string
	// MinorUnits is the number of decimal places of the currency, e.g. 2.
	MinorUnits int32
	// Name is the English name from the ISO 4217 list.
	Name string
}

// iso4217CSV is the currency table: every active code of ISO 4217 list one
// (2024) that has minor units, followed by a few withdrawn codes (non-empty
// "withdrawn" column, YYYY-MM) that still appear in historic rate feeds such
// as the ECB's. Codes without minor units ("N.A.": XAU, XAG, XDR, XTS, ...)
// are left out because they cannot be amounts.
//
//go:embed iso4217.csv
var iso4217CSV string

var (
	active     map[string]Currency // list one
	historic   map[string]Currency // list one plus withdrawn codes
	activeList []Currency          // sorted by code
)

func init() {
	a, h, err := loadTable(iso4217CSV)
	if err != nil {
		panic(fmt.Sprintf("money: embedded iso4217.csv: %v", err))
	}
	active, historic = a, h
	for _, c := range active {
		activeList = append(activeList, c)
	}
	slices.SortFunc(activeList, func(x, y Currency) int { return strings.Compare(x.Code, y.Code) })
}

// loadTable parses the embedded table and checks its invariants.
func loadTable(data string) (act, hist map[string]Currency, err error) {
	rows, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if len(rows) < 2 || strings.Join(rows[0], ",") != "code,numeric,minor_units,name,withdrawn" {
		return nil, nil, fmt.Errorf("bad header")
	}
	act = make(map[string]Currency, len(rows))
	hist = make(map[string]Currency, len(rows))
	numerics := make(map[string]string, len(rows))
	for i, row := range rows[1:] {
		line := i + 2
		minor, err := strconv.ParseInt(row[2], 10, 32)
		if err != nil || minor < 0 || minor > 4 {
			return nil, nil, fmt.Errorf("line %d: bad minor units %q", line, row[2])
		}
		c := Currency{Code: row[0], Numeric: row[1], MinorUnits: int32(minor), Name: row[3]}
		if !isAlphaCode(c.Code) || len(c.Numeric) != 3 || strings.Trim(c.Numeric, "0123456789") != "" || c.Name == "" {
			return nil, nil, fmt.Errorf("line %d: bad row %q", line, row)
		}
		if _, dup := hist[c.Code]; dup {
			return nil, nil, fmt.Errorf("line %d: duplicate code %s", line, c.Code)
		}
		hist[c.Code] = c
		if row[4] != "" {
			continue
		}
		if other, dup := numerics[c.Numeric]; dup {
			return nil, nil, fmt.Errorf("line %d: numeric %s used by %s and %s", line, c.Numeric, other, c.Code)
		}
		numerics[c.Numeric] = c.Code
		act[c.Code] = c
	}
	return act, hist, nil
}

// isAlphaCode reports whether s is three upper-case ASCII letters.
func isAlphaCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// maxCodeInError bounds how much of a caller-supplied code is echoed in an
// error message.
const maxCodeInError = 8

func unknown(code string) error {
	if len(code) > maxCodeInError {
		code = code[:maxCodeInError] + "..."
	}
	return fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
}

// Lookup returns the active ISO 4217 currency with the exact upper-case
// alphabetic code (no trimming, no case folding). Anything else returns an
// error wrapping ErrUnknownCurrency that names the code. Withdrawn currencies
// (e.g. HRK) are unknown here: money is never moved in them.
func Lookup(code string) (Currency, error) {
	c, ok := active[code]
	if !ok {
		return Currency{}, unknown(code)
	}
	return c, nil
}

// LookupHistoric is Lookup that also knows a few withdrawn currencies that
// still appear in historic rate feeds (HRK, LTL, ZWL, ...). Use it only to
// read rates, never to accept amounts.
func LookupHistoric(code string) (Currency, error) {
	c, ok := historic[code]
	if !ok {
		return Currency{}, unknown(code)
	}
	return c, nil
}

// All returns every active currency, sorted by code. The slice is a copy.
func All() []Currency {
	return slices.Clone(activeList)
}
