package fx

import (
	"bytes"
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
	// gesmesNS is the namespace of the feed's envelope and header
	// (gesmes:Envelope, gesmes:subject, gesmes:Sender), eurofxrefNS that
	// of its Cube elements (the default namespace of the ECB's files).
	gesmesNS    = "http://www.gesmes.org/xml/2002-08-01"
	eurofxrefNS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
)

// ecbLocation loads ecbZone once; time/tzdata makes it available on any
// host.
var ecbLocation = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation(ecbZone) })

// ecbHeader names the gesmes elements of the envelope's header, which
// carry no rates and are skipped.
var ecbHeader = map[string]bool{"subject": true, "Sender": true, "name": true}

type ecbDay struct {
	Time  string
	Rates []ecbRate
}

type ecbRate struct {
	Currency string
	Rate     string
}

// ParseECB reads the ECB daily reference rates feed (eurofxref-daily.xml, a
// gesmes envelope holding exactly one Cube[time]) into a RateSet with base
// EUR and Source "ecb". The ECB publishes the rates at about 16:00
// Frankfurt time on the day of Cube time; AsOf is that moment, in UTC:
// 15:00 UTC in winter (CET), 14:00 UTC in summer (CEST), so the day's feed
// can be imported as soon as it is out and its age is never understated.
//
// The document must be the feed and nothing else (see decodeECB): the
// gesmes Envelope and eurofxref Cube elements in their namespaces, no
// other element, text or attribute, no attribute twice, nothing after the
// Envelope. Input beyond MaxFeedBytes, malformed XML, anything else in
// the document, unknown currencies, duplicates and rates that are not
// positive plain decimals are errors, reported as *ParseError naming the
// element (and the line where the decoder knows it).
func ParseECB(r io.Reader) (RateSet, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFeedBytes+1))
	if err != nil {
		return RateSet{}, fmt.Errorf("fx: read ECB feed: %w", err)
	}
	if len(data) > MaxFeedBytes {
		return RateSet{}, &ParseError{Element: "Envelope", Reason: fmt.Sprintf("feed larger than %d bytes", MaxFeedBytes)}
	}
	days, err := decodeECB(data)
	if err != nil {
		return RateSet{}, err
	}
	if len(days) != 1 {
		return RateSet{}, &ParseError{Element: "Cube[time]", Reason: fmt.Sprintf("want exactly one day, got %d", len(days))}
	}
	day := days[0]
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

// decodeECB reads the days of the feed, token by token, and refuses any
// document that is not exactly the feed. xml.Unmarshal would decode only
// the first root element (two feeds concatenated would import the first
// day and drop the second), keep the last of two equal attributes
// (rate='1.0556' rate='999' read as 999, though XML 1.0 §3.1 forbids it)
// and match elements by local name whatever their namespace (another
// provider's <x:Envelope><x:Cube> read as ECB rates). The document is:
//
//	gesmes:Envelope            (namespace gesmesNS)
//	  gesmes:subject, gesmes:Sender/gesmes:name   (skipped)
//	  Cube                     (namespace eurofxrefNS, exactly one)
//	    Cube time=             (one per day)
//	      Cube currency= rate= (empty)
//
// with nothing but whitespace, comments and processing instructions
// between the elements, before the Envelope and after it. Namespace
// declarations are accepted on any element; other attributes only where
// shown.
func decodeECB(data []byte) ([]ecbDay, error) {
	x := &ecbDecoder{d: xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))}
	root, err := x.root()
	if err != nil {
		return nil, err
	}
	if root.Name != (xml.Name{Space: gesmesNS, Local: "Envelope"}) {
		return nil, x.fail("Envelope", fmt.Sprintf("not the ECB feed: root element is %s, want Envelope (namespace %q)", showName(root.Name), gesmesNS))
	}
	if _, err := x.attrs(root, "Envelope"); err != nil {
		return nil, err
	}
	var days []ecbDay
	outer := 0
	for {
		se, end, err := x.child("Envelope")
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		switch {
		case se.Name.Space == gesmesNS && ecbHeader[se.Name.Local]:
			if err := x.skipHeader(se); err != nil {
				return nil, err
			}
		case se.Name == xml.Name{Space: eurofxrefNS, Local: "Cube"}:
			if outer++; outer > 1 {
				return nil, x.fail("Cube", "more than one outer Cube in the Envelope")
			}
			if days, err = x.outerCube(se); err != nil {
				return nil, err
			}
		default:
			return nil, x.unexpected(se, "Envelope")
		}
	}
	return days, x.epilogue()
}

// ecbDecoder reads the tokens of a feed for decodeECB.
type ecbDecoder struct {
	d *xml.Decoder
}

// token returns the next token; a syntax error or an attribute given twice
// is a *ParseError, the end of the input io.EOF.
func (x *ecbDecoder) token() (xml.Token, error) {
	tok, err := x.d.Token()
	if err == io.EOF {
		return nil, err
	}
	if err != nil {
		pe := &ParseError{Element: "Envelope", Reason: "malformed XML: " + err.Error(), Err: err}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			pe.Line, pe.Element, pe.Reason = se.Line, "", "malformed XML: "+se.Msg
		}
		return nil, pe
	}
	switch t := tok.(type) {
	case xml.StartElement:
		seen := make(map[xml.Name]bool, len(t.Attr))
		for _, a := range t.Attr {
			if seen[a.Name] {
				return nil, x.fail(t.Name.Local, fmt.Sprintf("malformed XML: attribute %s appears twice", showName(a.Name)))
			}
			seen[a.Name] = true
		}
	case xml.Directive:
		return nil, x.fail("Envelope", "<!...> declarations (DOCTYPE) are not accepted in the feed")
	}
	return tok, nil
}

// root skips the prologue and returns the root element.
func (x *ecbDecoder) root() (xml.StartElement, error) {
	for {
		tok, err := x.token()
		if err == io.EOF {
			return xml.StartElement{}, &ParseError{Element: "Envelope", Reason: "malformed XML: no root element"}
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if !isSpace(t) {
				return xml.StartElement{}, x.fail("Envelope", "malformed XML: text before the root element")
			}
		}
	}
}

// epilogue reads what follows the root element: whitespace, comments and
// processing instructions only, up to the end of the input.
func (x *ecbDecoder) epilogue() error {
	for {
		tok, err := x.token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return x.fail(t.Name.Local, "malformed XML: element after the Envelope (one feed per document)")
		case xml.CharData:
			if !isSpace(t) {
				return x.fail("Envelope", "malformed XML: text after the Envelope")
			}
		}
	}
}

// child returns the next child element of the element named parent, or
// end = true at its end tag. Text other than whitespace is an error.
func (x *ecbDecoder) child(parent string) (se xml.StartElement, end bool, err error) {
	for {
		tok, err := x.token()
		if err == io.EOF { // the decoder reports an unclosed element as a syntax error
			return xml.StartElement{}, false, x.fail(parent, "malformed XML: unexpected end of input")
		}
		if err != nil {
			return xml.StartElement{}, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, false, nil
		case xml.EndElement:
			return xml.StartElement{}, true, nil
		case xml.CharData:
			if !isSpace(t) {
				return xml.StartElement{}, false, x.fail(parent, "text "+quoteShort(strings.TrimSpace(string(t)))+" where only elements belong")
			}
		}
	}
}

// skipHeader skips a gesmes header element (subject, Sender, name) and
// its text; anything but header elements inside it is an error.
func (x *ecbDecoder) skipHeader(se xml.StartElement) error {
	for depth := 1; depth > 0; {
		tok, err := x.token()
		if err == io.EOF {
			return x.fail(se.Name.Local, "malformed XML: unexpected end of input")
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != gesmesNS || !ecbHeader[t.Name.Local] {
				return x.unexpected(t, se.Name.Local)
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// outerCube reads the days of the outer Cube.
func (x *ecbDecoder) outerCube(se xml.StartElement) ([]ecbDay, error) {
	if _, err := x.attrs(se, "Cube"); err != nil {
		return nil, err
	}
	var days []ecbDay
	for {
		c, end, err := x.child("Cube")
		if err != nil {
			return nil, err
		}
		if end {
			return days, nil
		}
		if c.Name != (xml.Name{Space: eurofxrefNS, Local: "Cube"}) {
			return nil, x.unexpected(c, "Cube")
		}
		a, err := x.attrs(c, "Cube[time]", "time")
		if err != nil {
			return nil, err
		}
		day := ecbDay{Time: a["time"]}
		if day.Rates, err = x.dayCube(day.Time); err != nil {
			return nil, err
		}
		days = append(days, day)
	}
}

// dayCube reads the rates of the day's Cube, each an empty Cube with a
// currency and a rate.
func (x *ecbDecoder) dayCube(date string) ([]ecbRate, error) {
	elem := "Cube[time=" + quoteShort(date) + "]"
	if _, err := time.Parse(time.DateOnly, date); err == nil {
		elem = "Cube[time=" + date + "]"
	}
	var rates []ecbRate
	for {
		c, end, err := x.child(elem)
		if err != nil {
			return nil, err
		}
		if end {
			return rates, nil
		}
		if c.Name != (xml.Name{Space: eurofxrefNS, Local: "Cube"}) {
			return nil, x.unexpected(c, elem)
		}
		a, err := x.attrs(c, "Cube[currency]", "currency", "rate")
		if err != nil {
			return nil, err
		}
		r := ecbRate{Currency: a["currency"], Rate: a["rate"]}
		rateElem := "Cube[currency=" + shortCode(r.Currency) + "]"
		inner, end, err := x.child(rateElem)
		if err != nil {
			return nil, err
		}
		if !end {
			return nil, x.unexpected(inner, rateElem)
		}
		rates = append(rates, r)
	}
}

// attrs returns se's attributes by local name. Namespace declarations are
// ignored; any attribute not in allowed (which have no namespace) is an
// error naming elem.
func (x *ecbDecoder) attrs(se xml.StartElement, elem string, allowed ...string) (map[string]string, error) {
	out := make(map[string]string, len(allowed))
	for _, a := range se.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		ok := false
		for _, name := range allowed {
			ok = ok || a.Name.Space == "" && a.Name.Local == name
		}
		if !ok {
			return nil, x.fail(elem, "unexpected attribute "+showName(a.Name))
		}
		out[a.Name.Local] = a.Value
	}
	return out, nil
}

// unexpected reports element se where it does not belong, in parent.
func (x *ecbDecoder) unexpected(se xml.StartElement, parent string) error {
	return x.fail(se.Name.Local, fmt.Sprintf("unexpected element %s in %s", showName(se.Name), parent))
}

// fail returns a *ParseError for elem at the decoder's current line.
func (x *ecbDecoder) fail(elem, reason string) error {
	line, _ := x.d.InputPos()
	return &ParseError{Line: line, Element: elem, Reason: reason}
}

// showName renders an XML name for an error: the local name (quoted when
// long), prefixed gesmes: in the gesmes namespace, followed by any other
// namespace but eurofxref's, quoted and cut to maxEcho bytes.
func showName(n xml.Name) string {
	local := n.Local
	if len(local) > maxEcho {
		local = quoteShort(local)
	}
	switch n.Space {
	case "", eurofxrefNS:
		return local
	case gesmesNS:
		return "gesmes:" + local
	}
	return local + " (namespace " + quoteShort(n.Space) + ")"
}

// isSpace reports whether text is XML white space only.
func isSpace(text []byte) bool {
	return len(bytes.Trim(text, " \t\r\n")) == 0
}

// shortCode renders a currency code for an element name: as is when it
// is three upper-case letters, else quoted and shortened.
func shortCode(s string) string {
	if len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		return s
	}
	return quoteShort(s)
}
