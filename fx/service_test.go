package fx_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/valid"
)

const realECBFile = "../testdata/real/ecb-eurofxref-daily-2017-03-08.xml"

// ecbAsOf is the AsOf of the real ECB file's rates.
var ecbAsOf = time.Date(2017, 3, 8, 15, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ptr(s string) *decimal.Decimal { v := d(s); return &v }

// newService returns a Service on a fresh database with the clock a day
// after the ECB file's rates.
func newService(t *testing.T) (*fx.Service, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(ecbAsOf.Add(19 * time.Hour))
	return &fx.Service{DB: dbtest.New(t), Clock: clk, MaxRateAge: fx.DefaultMaxRateAge, QuoteTTL: fx.DefaultQuoteTTL, DefaultSpreadBps: 50}, clk
}

// importECB imports the real ECB file for tenant.
func importECB(t *testing.T, s *fx.Service, tenant uuid.UUID) fx.ImportResult {
	t.Helper()
	f, err := os.Open(realECBFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sets, err := fx.ParseRatesFile(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ImportRates(context.Background(), tenant, sets)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func countRates(t *testing.T, s *fx.Service, tenant uuid.UUID) int {
	t.Helper()
	var n int
	if err := s.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM fx_rates WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportECBRealFileExactAndIdempotent(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	res := importECB(t, s, tenant)
	if res.Inserted != 31 || res.Unchanged != 0 || len(res.Sets) != 1 || res.Sets[0].Rates != 31 || !res.Sets[0].AsOf.Equal(ecbAsOf) {
		t.Fatalf("first import = %+v", res)
	}
	// Stored exactly as published (NUMERIC, as text).
	for code, want := range map[string]string{"USD": "1.0556", "JPY": "120.65", "HUF": "310.70", "IDR": "14144.80", "GBP": "0.86753"} {
		var got string
		err := s.DB.Pool.QueryRow(ctx, `SELECT rate::TEXT FROM fx_rates WHERE tenant_id = $1 AND base = 'EUR' AND quote = $2`, tenant, code).Scan(&got)
		if err != nil || got != want {
			t.Errorf("EUR/%s stored as %q (%v), want %q", code, got, err, want)
		}
	}
	res = importECB(t, s, tenant)
	if res.Inserted != 0 || res.Unchanged != 31 {
		t.Fatalf("re-import = %+v, want 0 inserted, 31 unchanged", res)
	}
	if n := countRates(t, s, tenant); n != 31 {
		t.Fatalf("%d rates stored, want 31", n)
	}
	// Rates are per tenant.
	if n := countRates(t, s, uuid.New()); n != 0 {
		t.Fatalf("another tenant sees %d rates", n)
	}
}

// The day's ECB feed can be imported as soon as it is out, in summer too
// (16:20 CEST is 14:20 UTC).
func TestImportECBSummerFeed(t *testing.T) {
	s, clk := newService(t)
	clk.Set(time.Date(2017, 7, 10, 14, 20, 0, 0, time.UTC))
	set, err := fx.ParseECB(strings.NewReader(`<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<Cube><Cube time='2017-07-10'><Cube currency='USD' rate='1.1413'/></Cube></Cube></gesmes:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRates(context.Background(), uuid.New(), []fx.RateSet{set}); err != nil {
		t.Errorf("importing the day's ECB feed 20 minutes after publication: %v", err)
	}
}

func TestImportJSONAndCSV(t *testing.T) {
	s, _ := newService(t)
	tenant := uuid.New()
	set, err := fx.RatesInput{Base: "USD", AsOf: "2017-03-08T12:00:00Z", Source: "desk", Rates: map[string]string{"KWD": "0.3055", "BHD": "0.377"}}.RateSet()
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.ImportRates(context.Background(), tenant, []fx.RateSet{set}); err != nil || res.Inserted != 2 {
		t.Fatalf("JSON import = %+v, %v", res, err)
	}
	csv := "base,quote,rate,as_of,source\nEUR,USD,1.0556,2017-03-08T15:00:00Z,bank\nEUR,JPY,120.65,2017-03-08T15:00:00Z,bank\nUSD,CLP,660.5,2017-03-08,bank\n"
	sets, err := fx.ParseRatesFile(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ImportRates(context.Background(), tenant, sets)
	if err != nil || res.Inserted != 3 || len(res.Sets) != 2 {
		t.Fatalf("CSV import = %+v, %v", res, err)
	}
	r, err := fx.LatestRate(context.Background(), s.DB.Pool, tenant, "KWD", "USD", s.Clock.Now())
	if err != nil || !r.Rate.Equal(d("1").DivRound(d("0.3055"), 20)) {
		t.Fatalf("KWD/USD = %+v, %v", r, err)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	importECB(t, s, tenant)
	good := fx.RateSet{Base: "USD", AsOf: ecbAsOf, Source: "desk", Rates: map[string]decimal.Decimal{"KWD": d("0.3055")}}
	conflicting := fx.RateSet{Base: "EUR", AsOf: ecbAsOf, Source: fx.ECBSource, Rates: map[string]decimal.Decimal{"USD": d("1.0557")}}
	_, err := s.ImportRates(ctx, tenant, []fx.RateSet{good, conflicting})
	if !errors.Is(err, fx.ErrRateConflict) {
		t.Fatalf("error = %v, want ErrRateConflict", err)
	}
	if n := countRates(t, s, tenant); n != 31 {
		t.Fatalf("%d rates after a refused import, want the 31 of before", n)
	}
	future := fx.RateSet{Base: "USD", AsOf: s.Clock.Now().Add(time.Hour), Source: "desk", Rates: map[string]decimal.Decimal{"KWD": d("0.3055")}}
	if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{good, future}); !errors.Is(err, fx.ErrRateInFuture) {
		t.Fatalf("future set: error = %v, want ErrRateInFuture", err)
	}
	if n := countRates(t, s, tenant); n != 31 {
		t.Fatalf("%d rates after a refused import, want 31", n)
	}
}

func TestLatestRate(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	q := s.DB.Pool
	if _, err := fx.LatestRate(ctx, q, tenant, "EUR", "USD", clk.Now()); !errors.Is(err, fx.ErrNoRate) {
		t.Fatalf("no rates: error = %v, want ErrNoRate", err)
	}
	importECB(t, s, tenant)
	tests := []struct {
		from, to, want string
	}{
		{"EUR", "USD", "1.0556"},
		{"USD", "EUR", "0.94732853353543008715"},   // 1 / 1.0556
		{"USD", "JPY", "114.29518757104964001516"}, // 120.65 / 1.0556
		{"JPY", "KRW", "10.08172399502693742230"},  // 1216.36 / 120.65
		{"IDR", "USD", "0.00007462813189299248"},   // 1.0556 / 14144.80, 16 significant digits kept
		{"GBP", "GBP", "1"},
	}
	for _, tt := range tests {
		r, err := fx.LatestRate(ctx, q, tenant, tt.from, tt.to, clk.Now())
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.from, tt.to, err)
		}
		if !r.Rate.Equal(d(tt.want)) || r.Base != tt.from || r.Quote != tt.to {
			t.Errorf("%s/%s = %s, want %s", tt.from, tt.to, r.Rate, tt.want)
		}
	}
	// An older direct USD/JPY rate loses against the newer cross rate; a
	// newer one wins.
	old := fx.RateSet{Base: "USD", AsOf: ecbAsOf.Add(-48 * time.Hour), Source: "desk", Rates: map[string]decimal.Decimal{"JPY": d("110")}}
	newer := fx.RateSet{Base: "USD", AsOf: ecbAsOf.Add(time.Hour), Source: "desk", Rates: map[string]decimal.Decimal{"JPY": d("115")}}
	if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{old}); err != nil {
		t.Fatal(err)
	}
	if r, _ := fx.LatestRate(ctx, q, tenant, "USD", "JPY", clk.Now()); !r.Rate.Equal(d("114.29518757104964001516")) || r.Source != "ecb" {
		t.Errorf("with an older direct rate: %+v, want the ECB cross rate", r)
	}
	if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{newer}); err != nil {
		t.Fatal(err)
	}
	if r, _ := fx.LatestRate(ctx, q, tenant, "JPY", "USD", clk.Now()); !r.Rate.Equal(d("1").DivRound(d("115"), 20)) || r.Source != "desk" {
		t.Errorf("with a newer direct rate: %+v, want 1/115 from desk", r)
	}
	// Rates dated after now (beyond the clock skew) are not used yet.
	if r, _ := fx.LatestRate(ctx, q, tenant, "USD", "JPY", ecbAsOf.Add(30*time.Minute)); r.Source != "ecb" {
		t.Errorf("at a time before the desk rate: %+v, want the ECB cross rate", r)
	}
}

// Cross rates go through any currency with rates for both legs, not only
// through the base of the tenant's newest rate set: importing one USD/AED
// rate after the ECB file must not make GBP→JPY unavailable.
func TestLatestRateCrossesThroughAnyPivot(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	set := func(base string, asOf time.Time, rates map[string]string) fx.RateSet {
		m := map[string]decimal.Decimal{}
		for code, r := range rates {
			m[code] = d(r)
		}
		return fx.RateSet{Base: base, AsOf: asOf, Source: "desk", Rates: m}
	}
	const ecbGBPJPY = "139.07300035733634571715" // 120.65 / 0.86753
	tests := []struct {
		name         string
		after        []fx.RateSet // imported after the ECB file
		from, to     string
		want, source string
		asOf         time.Time
	}{
		{"a later non-EUR set does not hide the EUR pivot", []fx.RateSet{set("USD", ecbAsOf.Add(time.Hour), map[string]string{"AED": "3.6725"})},
			"GBP", "JPY", ecbGBPJPY, "ecb", ecbAsOf},
		{"the freshest pivot wins", []fx.RateSet{set("USD", ecbAsOf.Add(time.Hour), map[string]string{"GBP": "0.78", "JPY": "114.5"})},
			"GBP", "JPY", "146.79487179487179487179", "desk", ecbAsOf.Add(time.Hour)}, // 114.5 / 0.78
		{"a cross is as fresh as its older leg", []fx.RateSet{
			set("USD", ecbAsOf.Add(time.Hour), map[string]string{"GBP": "0.78"}),
			set("USD", ecbAsOf.Add(-48*time.Hour), map[string]string{"JPY": "114.5"}),
		}, "GBP", "JPY", ecbGBPJPY, "ecb", ecbAsOf},
		{"on a tie, the first pivot in code order", []fx.RateSet{set("AED", ecbAsOf, map[string]string{"GBP": "0.2124", "JPY": "31.17"})},
			"GBP", "JPY", "146.75141242937853107345", "desk", ecbAsOf}, // 31.17 / 0.2124 through AED, not EUR
		{"legs from two sources", []fx.RateSet{set("USD", ecbAsOf.Add(time.Hour), map[string]string{"AED": "3.6725"})},
			"EUR", "AED", "3.876691", "ecb+desk", ecbAsOf}, // 1.0556 × 3.6725
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := uuid.New()
			importECB(t, s, tenant)
			if _, err := s.ImportRates(ctx, tenant, tt.after); err != nil {
				t.Fatal(err)
			}
			r, err := fx.LatestRate(ctx, s.DB.Pool, tenant, tt.from, tt.to, clk.Now())
			if err != nil {
				t.Fatalf("%s/%s: %v", tt.from, tt.to, err)
			}
			if !r.Rate.Equal(d(tt.want)) || r.Source != tt.source || !r.AsOf.Equal(tt.asOf) {
				t.Errorf("%s/%s = %s from %s as of %s, want %s from %s as of %s", tt.from, tt.to, r.Rate, r.Source, r.AsOf, tt.want, tt.source, tt.asOf)
			}
			if _, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: tt.from, BuyCurrency: tt.to, SellAmount: ptr("100.00")}); err != nil {
				t.Errorf("quote %s→%s: %v", tt.from, tt.to, err)
			}
		})
	}
}

// A direct rate older than the inverse one does not hide it: selling USD
// for EUR is priced at a fresh EUR/USD rate, not at an old USD/EUR one
// (nor refused as stale when the old one is past the maximum age).
func TestQuoteNewerInverseBeatsOlderDirect(t *testing.T) {
	for _, age := range []time.Duration{30 * time.Hour, 40 * time.Hour} {
		t.Run(age.String(), func(t *testing.T) {
			s, clk := newService(t)
			ctx := context.Background()
			tenant := uuid.New()
			now := clk.Now()
			oldDirect := fx.RateSet{Base: "USD", AsOf: now.Add(-age), Source: "desk", Rates: map[string]decimal.Decimal{"EUR": d("0.90")}}
			freshInverse := fx.RateSet{Base: "EUR", AsOf: now.Add(-time.Hour), Source: "ecb", Rates: map[string]decimal.Decimal{"USD": d("1.0556")}}
			if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{oldDirect, freshInverse}); err != nil {
				t.Fatal(err)
			}
			q, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: ptr("1000.00")})
			if err != nil {
				t.Fatalf("quote refused although EUR/USD is 1 h old: %v", err)
			}
			// 1000.00 / 1.0556 × 0.995 = 942.5919...
			if !q.RateAsOf.Equal(freshInverse.AsOf) || q.RateSource != "ecb" || !q.BuyAmount.Equal(d("942.59")) {
				t.Errorf("priced at mid %s from %s as of %s, buy %s EUR; want 1/1.0556 from ecb, 942.59 EUR", q.MidRate, q.RateSource, q.RateAsOf, q.BuyAmount)
			}
		})
	}
}

func TestQuoteStaleRate(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	importECB(t, s, tenant)
	req := fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: ptr("100.00")}
	clk.Set(ecbAsOf.Add(fx.DefaultMaxRateAge))
	if _, err := s.Quote(ctx, tenant, req); err != nil {
		t.Fatalf("at exactly the max age: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := s.Quote(ctx, tenant, req); !errors.Is(err, fx.ErrRateStale) {
		t.Fatalf("a second later: error = %v, want ErrRateStale", err)
	}
	// Stale rates still serve ToUSD (risk features).
	usd, err := s.ToUSD(ctx, s.DB.Pool, tenant, d("1000.00"), "EUR")
	if err != nil || !usd.Equal(d("1055.60")) {
		t.Fatalf("ToUSD = %s, %v", usd, err)
	}
	if _, err := s.Quote(ctx, uuid.New(), req); !errors.Is(err, fx.ErrNoRate) {
		t.Fatalf("tenant without rates: error = %v, want ErrNoRate", err)
	}
}

func TestQuotePricingAndSpread(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	importECB(t, s, tenant)
	q, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "EUR", BuyCurrency: "USD", SellAmount: ptr("1000.00")})
	if err != nil {
		t.Fatal(err)
	}
	if !q.BuyAmount.Equal(d("1050.32")) || !q.Rate.Equal(d("1.050322")) || !q.MidRate.Equal(d("1.0556")) ||
		!q.SpreadAmount.Equal(d("5.28")) || q.SpreadBps != 50 || q.FixedSide != fx.FixedSell ||
		!q.ExpiresAt.Equal(clk.Now().Add(fx.DefaultQuoteTTL)) || !q.RateAsOf.Equal(ecbAsOf) || q.RateSource != "ecb" {
		t.Fatalf("quote = %+v", q)
	}
	got, err := s.GetQuote(ctx, tenant, q.ID)
	if err != nil || !got.BuyAmount.Equal(q.BuyAmount) || !got.Rate.Equal(q.Rate) || got.Status(clk.Now()) != fx.QuoteOpen {
		t.Fatalf("GetQuote = %+v, %v", got, err)
	}
	if _, err := s.GetQuote(ctx, uuid.New(), q.ID); !errors.Is(err, fx.ErrQuoteNotFound) {
		t.Fatalf("another tenant's quote: %v", err)
	}
	st, err := s.Settings(ctx, tenant)
	if err != nil || st.SpreadBps != 50 || !st.Default {
		t.Fatalf("default settings = %+v, %v", st, err)
	}
	if _, err := s.SetSpread(ctx, tenant, 1001); !errors.Is(err, fx.ErrInvalidSpread) {
		t.Fatalf("SetSpread(1001) = %v", err)
	}
	if _, err := s.SetSpread(ctx, tenant, 0); err != nil {
		t.Fatal(err)
	}
	q, err = s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "JPY", BuyAmount: ptr("10000")})
	if err != nil || q.SpreadBps != 0 || !q.Rate.Equal(q.MidRate) || !q.SellAmount.Equal(d("87.49")) || q.FixedSide != fx.FixedBuy {
		t.Fatalf("zero-spread quote = %+v, %v", q, err)
	}
	// 10000 JPY cost 87.4927... USD: 87.49, rounded half-even, not up.
	// Too small to buy one minor unit: invalid_amount on sell_amount.
	_, err = s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "IDR", BuyCurrency: "GBP", SellAmount: ptr("1.00")})
	if fe, ok := valid.As(err); !ok || fe[0].Field != "sell_amount" || fe.Code() != fx.CodeInvalidAmount {
		t.Fatalf("tiny quote: error = %#v", err)
	}
}

// consume runs fx.Consume in a transaction of its own.
func consume(s *fx.Service, tenant, id uuid.UUID, want fx.ConsumeRequest) (fx.Quote, error) {
	var q fx.Quote
	err := s.DB.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		q, err = fx.Consume(context.Background(), tx, tenant, id, want, s.Clock.Now())
		return err
	})
	return q, err
}

func TestConsume(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	importECB(t, s, tenant)
	newQuote := func() fx.Quote {
		q, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", BuyAmount: ptr("250.00")})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := newQuote()
	want := fx.ConsumeRequest{SellCurrency: "USD", BuyCurrency: "EUR", BuyAmount: ptr("250"), UsedBy: "escrow:1"}
	for _, tt := range []struct {
		name   string
		tenant uuid.UUID
		id     uuid.UUID
		want   fx.ConsumeRequest
		err    error
	}{
		{"unknown id", tenant, uuid.New(), want, fx.ErrQuoteNotFound},
		{"another tenant", uuid.New(), q.ID, want, fx.ErrQuoteNotFound},
		{"wrong currency", tenant, q.ID, fx.ConsumeRequest{SellCurrency: "GBP", BuyCurrency: "EUR", UsedBy: "x"}, fx.ErrQuoteMismatch},
		{"swapped currencies", tenant, q.ID, fx.ConsumeRequest{SellCurrency: "EUR", BuyCurrency: "USD", UsedBy: "x"}, fx.ErrQuoteMismatch},
		{"wrong buy amount", tenant, q.ID, fx.ConsumeRequest{SellCurrency: "USD", BuyCurrency: "EUR", BuyAmount: ptr("250.01"), UsedBy: "x"}, fx.ErrQuoteMismatch},
		{"wrong sell amount", tenant, q.ID, fx.ConsumeRequest{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: ptr("1"), UsedBy: "x"}, fx.ErrQuoteMismatch},
	} {
		if _, err := consume(s, tt.tenant, tt.id, tt.want); !errors.Is(err, tt.err) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.err)
		}
	}
	clk.Advance(fx.DefaultQuoteTTL - time.Second)
	got, err := consume(s, tenant, q.ID, want)
	if err != nil || got.UsedAt == nil || !got.UsedAt.Equal(clk.Now()) || got.UsedBy != "escrow:1" {
		t.Fatalf("consume a second before expiry = %+v, %v", got, err)
	}
	if _, err := consume(s, tenant, q.ID, want); !errors.Is(err, fx.ErrQuoteUsed) {
		t.Fatalf("second consume: error = %v, want ErrQuoteUsed", err)
	}
	if stored, _ := s.GetQuote(ctx, tenant, q.ID); stored.Status(clk.Now()) != fx.QuoteUsed || stored.UsedBy != "escrow:1" {
		t.Fatalf("stored quote = %+v", stored)
	}

	q = newQuote()
	clk.Advance(fx.DefaultQuoteTTL)
	if _, err := consume(s, tenant, q.ID, want); !errors.Is(err, fx.ErrQuoteExpired) {
		t.Fatalf("at expiry: error = %v, want ErrQuoteExpired", err)
	}
	if stored, _ := s.GetQuote(ctx, tenant, q.ID); stored.UsedAt != nil || stored.Status(clk.Now()) != fx.QuoteExpired {
		t.Fatalf("expired quote changed: %+v", stored)
	}
}

func TestConcurrentConsumeExactlyOnce(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	importECB(t, s, tenant)
	const workers = 16
	for round := 0; round < 3; round++ {
		q, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "GBP", BuyCurrency: "JPY", SellAmount: ptr("99.99")})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, workers)
		start := make(chan struct{})
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = consume(s, tenant, q.ID, fx.ConsumeRequest{SellCurrency: "GBP", BuyCurrency: "JPY", UsedBy: "worker"})
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, fx.ErrQuoteUsed):
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d consumers succeeded, want exactly 1", round, ok)
		}
	}
}

func TestToUSD(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	if _, err := s.ToUSD(ctx, s.DB.Pool, tenant, d("1"), "EUR"); !errors.Is(err, fx.ErrNoRate) {
		t.Fatalf("no rates: %v", err)
	}
	importECB(t, s, tenant)
	for _, tt := range []struct{ amount, cur, want string }{
		{"12.34", "USD", "12.34"},
		{"1000.00", "EUR", "1055.60"},
		{"120650", "JPY", "1055.60"}, // 120650 × 1.0556 / 120.65
		{"1", "JPY", "0.01"},
	} {
		got, err := s.ToUSD(ctx, s.DB.Pool, tenant, d(tt.amount), tt.cur)
		if err != nil || !got.Equal(d(tt.want)) {
			t.Errorf("ToUSD(%s %s) = %s, %v; want %s", tt.amount, tt.cur, got, err, tt.want)
		}
	}
	if _, err := s.ToUSD(ctx, s.DB.Pool, tenant, d("1"), "XYZ"); err == nil {
		t.Error("unknown currency accepted")
	}
	// Works inside a transaction too.
	err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
		_, err := s.ToUSD(ctx, tx, tenant, d("5"), "GBP")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var _ db.Querier = s.DB.Pool
}
