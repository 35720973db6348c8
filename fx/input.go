package fx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
)

// Problem codes of field errors, shared with the API.
const (
	CodeUnknownCurrency = "unknown_currency"
	CodeInvalidAmount   = "invalid_amount"
	CodeInvalidRate     = "invalid_rate"
)

const (
	// APISource is the Source of rates posted as JSON without a source.
	APISource = "api"
	// maxFieldErrors bounds the field errors reported for one input.
	maxFieldErrors = 20
)

// ParseQuoteRequest turns the strings of a quote request into a
// QuoteRequest: currencies must be active ISO 4217 codes (else
// unknown_currency on the field), the one amount given must parse for its
// currency without rounding (else invalid_amount naming the field). Empty
// amount strings mean "not given". Errors are valid.Errors.
func ParseQuoteRequest(sellCurrency, buyCurrency, sellAmount, buyAmount string) (QuoteRequest, error) {
	req := QuoteRequest{SellCurrency: sellCurrency, BuyCurrency: buyCurrency}
	var errs valid.Errors
	sell, okSell := parseCurrencyField(&errs, "sell_currency", sellCurrency)
	buy, okBuy := parseCurrencyField(&errs, "buy_currency", buyCurrency)
	if sellAmount != "" && okSell {
		req.SellAmount = parseAmountField(&errs, "sell_amount", sellAmount, sell)
	}
	if buyAmount != "" && okBuy {
		req.BuyAmount = parseAmountField(&errs, "buy_amount", buyAmount, buy)
	}
	if len(errs) > 0 {
		return QuoteRequest{}, errs
	}
	if err := req.Validate(); err != nil {
		return QuoteRequest{}, fieldErr(err)
	}
	return req, nil
}

func parseCurrencyField(errs *valid.Errors, field, code string) (money.Currency, bool) {
	if code == "" {
		errs.Add(field, "is required")
		return money.Currency{}, false
	}
	c, err := money.Lookup(code)
	if err != nil {
		errs.AddCode(CodeUnknownCurrency, field, "unknown currency "+quoteShort(code)+": not an active ISO 4217 code")
		return money.Currency{}, false
	}
	return c, true
}

func parseAmountField(errs *valid.Errors, field, s string, c money.Currency) *decimal.Decimal {
	d, err := money.ParseAmount(s, c)
	if err != nil {
		errs.AddCode(CodeInvalidAmount, field, strings.TrimPrefix(err.Error(), money.ErrInvalidAmount.Error()+": "))
		return nil
	}
	return &d
}

// fieldErr converts a *FieldError of this package into valid.Errors with
// the problem code its field implies; other errors pass through.
func fieldErr(err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	code := ""
	switch {
	case strings.HasPrefix(fe.Message, "one of") || strings.HasPrefix(fe.Message, "only one of"):
		// which amount is given is a shape problem, not a bad amount
	case strings.HasSuffix(fe.Field, "_amount"):
		code = CodeInvalidAmount
	case strings.HasSuffix(fe.Field, "_currency") && strings.HasPrefix(fe.Message, "unknown currency"):
		code = CodeUnknownCurrency
	}
	return valid.Errors{{Field: fe.Field, Message: fe.Message, Code: code}}
}

// RatesInput is a rate set as posted in JSON: 1 Base = Rates[code] code,
// as of AsOf (RFC 3339 or YYYY-MM-DD), from Source (default APISource).
type RatesInput struct {
	Base   string
	AsOf   string
	Source string
	Rates  map[string]string
}

// RateSet checks the input and returns its RateSet. Errors are
// valid.Errors naming the fields ("base", "as_of", "source", "rates",
// "rates.USD"): unknown codes are unknown_currency, bad rates invalid_rate.
func (in RatesInput) RateSet() (RateSet, error) {
	var errs valid.Errors
	set := RateSet{Base: in.Base, Source: in.Source, Rates: make(map[string]decimal.Decimal, len(in.Rates))}
	if set.Source == "" {
		set.Source = APISource
	}
	if in.Base == "" {
		errs.Add("base", "is required")
	} else if lookupRateCurrency(in.Base) != nil {
		errs.AddCode(CodeUnknownCurrency, "base", "unknown currency "+quoteShort(in.Base))
	}
	if in.AsOf == "" {
		errs.Add("as_of", "is required")
	} else if t, err := parseAsOf(in.AsOf); err != nil {
		errs.Add("as_of", err.Error())
	} else {
		set.AsOf = t
	}
	if err := validateSource(set.Source); err != nil {
		errs.Add("source", strings.TrimPrefix(err.Error(), ErrInvalidRate.Error()+": "))
	}
	switch {
	case len(in.Rates) == 0:
		errs.Add("rates", "must hold at least one rate")
	case len(in.Rates) > MaxRatesPerSet:
		errs.Add("rates", fmt.Sprintf("holds %d rates, max %d", len(in.Rates), MaxRatesPerSet))
	}
	for _, code := range slices.Sorted(maps.Keys(in.Rates)) {
		if len(errs) >= maxFieldErrors || len(in.Rates) > MaxRatesPerSet {
			break
		}
		field := "rates." + shortCode(code)
		if lookupRateCurrency(code) != nil {
			errs.AddCode(CodeUnknownCurrency, field, "unknown currency")
			continue
		}
		if code == in.Base {
			errs.Add(field, "base currency quoted against itself")
			continue
		}
		r, err := parseRate(in.Rates[code])
		if err != nil {
			errs.AddCode(CodeInvalidRate, field, strings.TrimPrefix(err.Error(), ErrInvalidRate.Error()+": "))
			continue
		}
		set.Rates[code] = r
	}
	if len(errs) > 0 {
		return RateSet{}, errs
	}
	if err := set.Validate(); err != nil { // unreachable after the checks above; kept as the invariant
		return RateSet{}, valid.Field("rates", err.Error())
	}
	return set, nil
}

// ParseRatesFile reads a rate file whose kind is sniffed from its content:
// XML (first non-blank byte '<', after an optional UTF-8 BOM) is the ECB
// feed (ParseECB), anything else a rates CSV (ParseRatesCSV). Errors are
// *ParseError as from those parsers.
func ParseRatesFile(r io.Reader) ([]RateSet, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	head = bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	if len(head) > 0 && head[0] == '<' {
		set, err := ParseECB(br)
		if err != nil {
			return nil, err
		}
		return []RateSet{set}, nil
	}
	return ParseRatesCSV(br)
}
