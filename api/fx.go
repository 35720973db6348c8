package api

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
)

type currencyJSON struct {
	Code       string `json:"code"`
	Numeric    string `json:"numeric"`
	MinorUnits int32  `json:"minor_units"`
	Name       string `json:"name"`
}

// listCurrencies answers GET /v1/currencies: every active ISO 4217 code.
func (s *Server) listCurrencies(*http.Request) (any, error) {
	all := money.All()
	out := make([]currencyJSON, len(all))
	for i, c := range all {
		out[i] = currencyJSON{Code: c.Code, Numeric: c.Numeric, MinorUnits: c.MinorUnits, Name: c.Name}
	}
	return Page[currencyJSON]{Data: out}, nil
}

// ratesRequest is the JSON body of POST /v1/fx/rates.
type ratesRequest struct {
	Base   string            `json:"base"`
	AsOf   string            `json:"as_of"`
	Source string            `json:"source"`
	Rates  map[string]string `json:"rates"`
}

// importRates answers POST /v1/fx/rates: a JSON rate set, the ECB feed
// (application/xml, text/xml) or a rates CSV (text/csv).
func (s *Server) importRates(r *http.Request, body []byte) (any, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var sets []fx.RateSet
	switch mt {
	case "application/xml", "text/xml":
		set, err := fx.ParseECB(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		sets = []fx.RateSet{set}
	case "text/csv":
		var err error
		if sets, err = fx.ParseRatesCSV(bytes.NewReader(body)); err != nil {
			return nil, err
		}
	default:
		var in ratesRequest
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		set, err := fx.RatesInput{Base: in.Base, AsOf: in.AsOf, Source: in.Source, Rates: in.Rates}.RateSet()
		if err != nil {
			return nil, err
		}
		sets = []fx.RateSet{set}
	}
	return s.fx.ImportRates(r.Context(), principal(r).TenantID, sets)
}

type importedSetJSON struct {
	Base   string    `json:"base"`
	AsOf   time.Time `json:"as_of"`
	Source string    `json:"source"`
	Rates  int       `json:"rates"`
}

type importJSON struct {
	Sets      []importedSetJSON `json:"sets"`
	Inserted  int               `json:"inserted"`
	Unchanged int               `json:"unchanged"`
}

// renderImport answers 201 when rates were stored, 200 for a re-import
// that stored nothing new.
func renderImport(v any) (int, any) {
	res := v.(fx.ImportResult)
	out := importJSON{Sets: make([]importedSetJSON, len(res.Sets)), Inserted: res.Inserted, Unchanged: res.Unchanged}
	for i, st := range res.Sets {
		out.Sets[i] = importedSetJSON{Base: st.Base, AsOf: st.AsOf, Source: st.Source, Rates: st.Rates}
	}
	if res.Inserted == 0 {
		return http.StatusOK, out
	}
	return http.StatusCreated, out
}

type rateJSON struct {
	Base   string    `json:"base"`
	Quote  string    `json:"quote"`
	Rate   string    `json:"rate"`
	AsOf   time.Time `json:"as_of"`
	Source string    `json:"source"`
	Stale  bool      `json:"stale"`
}

// getRate answers GET /v1/fx/rates?base=&quote=: the latest rate (1 base
// = rate quote), direct, inverse or crossed.
func (s *Server) getRate(r *http.Request) (any, error) {
	q := r.URL.Query()
	var errs valid.Errors
	for _, f := range []string{"base", "quote"} {
		switch code := q.Get(f); {
		case code == "":
			errs.Add(f, "is required")
		default:
			if _, err := money.Lookup(code); err != nil {
				errs.AddCode(fx.CodeUnknownCurrency, f, "unknown currency: not an active ISO 4217 code")
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	st, err := s.fx.CurrentRate(r.Context(), principal(r).TenantID, q.Get("base"), q.Get("quote"))
	if err != nil {
		return nil, err
	}
	return rateJSON{Base: st.Base, Quote: st.Quote, Rate: st.Rate.Rate.String(), AsOf: st.AsOf, Source: st.Source, Stale: st.Stale}, nil
}

// quoteRequest is the JSON body of POST /v1/fx/quotes.
type quoteRequest struct {
	SellCurrency string `json:"sell_currency"`
	BuyCurrency  string `json:"buy_currency"`
	SellAmount   string `json:"sell_amount"`
	BuyAmount    string `json:"buy_amount"`
}

func (s *Server) createQuote(r *http.Request, body []byte) (any, error) {
	var in quoteRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	req, err := fx.ParseQuoteRequest(in.SellCurrency, in.BuyCurrency, in.SellAmount, in.BuyAmount)
	if err != nil {
		return nil, err
	}
	return s.fx.Quote(r.Context(), principal(r).TenantID, req)
}

func (s *Server) getQuote(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	q, err := s.fx.GetQuote(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	return s.quoteJSON(q), nil
}

type quoteJSON struct {
	ID           uuid.UUID  `json:"id"`
	Status       string     `json:"status"`
	SellCurrency string     `json:"sell_currency"`
	BuyCurrency  string     `json:"buy_currency"`
	SellAmount   string     `json:"sell_amount"`
	BuyAmount    string     `json:"buy_amount"`
	Rate         string     `json:"rate"`
	MidRate      string     `json:"mid_rate"`
	SpreadBps    int64      `json:"spread_bps"`
	SpreadAmount string     `json:"spread_amount"`
	RateSource   string     `json:"rate_source"`
	RateAsOf     time.Time  `json:"rate_as_of"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	UsedAt       *time.Time `json:"used_at,omitempty"`
	UsedBy       string     `json:"used_by,omitempty"`
}

// quoteJSON renders q with amounts at their currencies' exact decimals.
func (s *Server) quoteJSON(q fx.Quote) quoteJSON {
	sell, _ := money.Lookup(q.SellCurrency)
	buy, _ := money.Lookup(q.BuyCurrency)
	return quoteJSON{
		ID: q.ID, Status: q.Status(s.clock.Now()), SellCurrency: q.SellCurrency, BuyCurrency: q.BuyCurrency,
		SellAmount: money.Format(q.SellAmount, sell), BuyAmount: money.Format(q.BuyAmount, buy),
		Rate: q.Rate.String(), MidRate: q.MidRate.String(), SpreadBps: q.SpreadBps,
		SpreadAmount: money.Format(q.SpreadAmount, buy), RateSource: q.RateSource, RateAsOf: q.RateAsOf,
		CreatedAt: q.CreatedAt, ExpiresAt: q.ExpiresAt, UsedAt: q.UsedAt, UsedBy: q.UsedBy,
	}
}

func (s *Server) renderQuote(v any) (int, any) {
	return http.StatusCreated, s.quoteJSON(v.(fx.Quote))
}

type settingsJSON struct {
	SpreadBps int64      `json:"spread_bps"`
	Default   bool       `json:"default"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// settingsRequest is the JSON body of PUT /v1/fx/settings.
type settingsRequest struct {
	SpreadBps *int64 `json:"spread_bps"`
}

func (s *Server) getFXSettings(r *http.Request) (any, error) {
	st, err := s.fx.Settings(r.Context(), principal(r).TenantID)
	if err != nil {
		return nil, err
	}
	return settingsJSON{SpreadBps: st.SpreadBps, Default: st.Default, UpdatedAt: st.UpdatedAt}, nil
}

func (s *Server) putFXSettings(r *http.Request, body []byte) (any, error) {
	var in settingsRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.SpreadBps == nil {
		return nil, valid.Field("spread_bps", "is required")
	}
	if fx.ValidateSpread(*in.SpreadBps) != nil {
		return nil, valid.Field("spread_bps", fmt.Sprintf("must be an integer from 0 to %d (basis points)", fx.MaxSpreadBps))
	}
	return s.fx.SetSpread(r.Context(), principal(r).TenantID, *in.SpreadBps)
}

func renderFXSettings(v any) (int, any) {
	st := v.(fx.Settings)
	return http.StatusOK, settingsJSON{SpreadBps: st.SpreadBps, Default: st.Default, UpdatedAt: st.UpdatedAt}
}
