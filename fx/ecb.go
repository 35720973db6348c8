package fx

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Berlin, whatever zone files the host has

	"github.com/shopspring/decimal"
)

const (
	// MaxFeedBytes is the largest rate feed accepted (the ECB daily feed is
	// about 1.5 KiB, the 90-day history about 130 KiB).
	MaxFeedBytes = 1 << 20
	// ECBSource is the Source of rates read from the ECB feed.
	ECBSource = "ecb"
	// ECBBase is the base currency of the ECB reference rates.
	ECBBase = "EUR"
	// ecbZone is the time zone of Frankfurt am Main, where the ECB
	// publishes, and ecbHour the local hour it publishes at (about 16:00
	// CET or CEST, so 15:00 or 14:00 UTC).
	ecbZone = "Europe/Berlin"
	ecbHour = 16
)

// ecbLocation loads ecbZone once; time/tzdata makes it available on any
// host.
var ecbLocation = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation(ecbZone) })

// ecbEnvelope is the gesmes envelope of the ECB eurofxref feed. Elements
// are matched by local name, whatever their namespace.
type ecbEnvelope struct {
	XMLName xml.Name `xml:"Envelope"`
	Outer   struct {
		Days []ecbDay `xml:"Cube"`
	} `xml:"Cube"`
}

type ecbDay struct {
	Time  string    `xml:"time,attr"`
	Rates []ecbRate `xml:"Cube"`
}

type ecbRate struct {
	Currency string `xml:"currency,attr"`
	Rate     string `xml:"rate,attr"`
}

// ParseECB reads the ECB daily reference rates feed (eurofxref-daily.xml, a
// gesmes envelope holding exactly one Cube[time]) into a RateSet with base
// EUR and Source "ecb". The ECB publishes the rates at about 16:00
// Frankfurt time on the day of Cube time; AsOf is that moment, in UTC:
// 15:00 UTC in winter (CET), 14:00 UTC in summer (CEST), so the day's feed
// can be imported as soon as it is out and its age is never understated.
// Input beyond MaxFeedBytes, malformed XML, unknown currencies,
// duplicates and rates that are not positive plain decimals are errors,
// reported as *ParseError naming the element.
func ParseECB(r io.Reader) (RateSet, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFeedBytes+1))
	if err != nil {
		return RateSet{}, fmt.Errorf("fx: read ECB feed: %w", err)
	}
	if len(data) > MaxFeedBytes {
		return RateSet{}, &ParseError{Element: "Envelope", Reason: fmt.Sprintf("feed larger than %d bytes", MaxFeedBytes)}
	}
	var env ecbEnvelope
	if err := xml.Unmarshal(data, &env); err != nil {
		pe := &ParseError{Element: "Envelope", Reason: "malformed XML: " + err.Error(), Err: err}
		var se *xml.SyntaxError
		if errors.Is(err, io.EOF) {
			pe.Reason = "malformed XML: no root element"
		} else if errors.As(err, &se) {
			pe.Line, pe.Element, pe.Reason = se.Line, "", "malformed XML: "+se.Msg
		}
		return RateSet{}, pe
	}
	if len(env.Outer.Days) != 1 {
		return RateSet{}, &ParseError{Element: "Cube[time]", Reason: fmt.Sprintf("want exactly one day, got %d", len(env.Outer.Days))}
	}
	day := env.Outer.Days[0]
	date, err := time.Parse(time.DateOnly, day.Time)
	if err != nil {
		return RateSet{}, &ParseError{Element: "Cube[time]", Reason: fmt.Sprintf("time %s is not a YYYY-MM-DD date", quoteShort(day.Time)), Err: err}
	}
	if len(day.Rates) > MaxRatesPerSet {
		return RateSet{}, &ParseError{Element: "Cube[time=" + day.Time + "]", Reason: fmt.Sprintf("%d rates, max %d", len(day.Rates), MaxRatesPerSet)}
	}
	frankfurt, err := ecbLocation()
	if err != nil {
		return RateSet{}, fmt.Errorf("fx: ECB time zone: %w", err)
	}
	set := RateSet{
		Base:   ECBBase,
		AsOf:   time.Date(date.Year(), date.Month(), date.Day(), ecbHour, 0, 0, 0, frankfurt).UTC(),
		Source: ECBSource,
		Rates:  make(map[string]decimal.Decimal, len(day.Rates)),
	}
	for _, c := range day.Rates {
		elem := "Cube[currency=" + shortCode(c.Currency) + "]"
		if err := lookupRateCurrency(c.Currency); err != nil {
			return RateSet{}, &ParseError{Element: elem, Reason: "unknown currency", Err: err}
		}
		if c.Currency == ECBBase {
			return RateSet{}, &ParseError{Element: elem, Reason: "base currency quoted against itself"}
		}
		if _, dup := set.Rates[c.Currency]; dup {
			return RateSet{}, &ParseError{Element: elem, Reason: "duplicate currency"}
		}
		rate, err := parseRate(c.Rate)
		if err != nil {
			return RateSet{}, &ParseError{Element: elem, Reason: err.Error(), Err: err}
		}
		set.Rates[c.Currency] = rate
	}
	if err := set.Validate(); err != nil {
		return RateSet{}, &ParseError{Element: "Cube[time=" + day.Time + "]", Reason: err.Error(), Err: err}
	}
	return set, nil
}

// shortCode renders a currency code for an element name: as is when it
// is three upper-case letters, else quoted and shortened.
func shortCode(s string) string {
	if len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		return s
	}
	return quoteShort(s)
}
