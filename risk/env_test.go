package risk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// testNow is a Monday 12:00 UTC: 13:00 in the Netherlands, office hours.
var testNow = time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)

// errNoRate is what tableRates answers for a currency it has no rate for.
var errNoRate = errors.New("no rate")

// tableRates converts with fixed USD rates. It stands in for fx.Service
// (same method) so these tests need no rate sets.
type tableRates map[string]decimal.Decimal

func (r tableRates) USDRate(_ context.Context, _ db.Querier, _ uuid.UUID, currency string) (decimal.Decimal, error) {
	rate, ok := r[currency]
	if !ok {
		return decimal.Decimal{}, fmt.Errorf("%s to USD: %w", currency, errNoRate)
	}
	return rate, nil
}

// env is one test database with a gate, its service and a fake clock.
type env struct {
	t      testing.TB
	db     *db.DB
	clock  *clock.Fake
	gate   *Gate
	svc    *Service
	tenant uuid.UUID
}

func newEnv(t testing.TB) *env {
	t.Helper()
	d := dbtest.New(t)
	g, err := NewGate(GateConfig{FX: tableRates{"EUR": decimal.RequireFromString("1.08")}})
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(testNow)
	return &env{t: t, db: d, clock: c, gate: g, svc: NewService(d, c, g), tenant: uuid.Must(uuid.NewV7())}
}

// tx runs fn in a committed transaction and fails the test on error.
func (e *env) tx(fn func(tx pgx.Tx) error) {
	e.t.Helper()
	if err := e.db.Tx(context.Background(), fn); err != nil {
		e.t.Fatal(err)
	}
}

// observe records an escrow created at `at`.
func (e *env) observe(buyer, seller, device, amount, currency string, at time.Time) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	e.tx(func(tx pgx.Tx) error {
		return e.gate.Observe(context.Background(), tx, Observation{TenantID: e.tenant, EscrowID: id, BuyerID: buyer, SellerID: seller,
			DeviceID: device, Amount: decimal.RequireFromString(amount), Currency: currency, At: at})
	})
	return id
}

// establish gives buyer 12 escrows over the last 400 days and seller 30,
// with other parties, amounts 100 to 490 USD: an ordinary history.
func (e *env) establish(buyer, seller string) {
	e.t.Helper()
	now := e.clock.Now()
	for i := range 12 {
		e.observe(buyer, fmt.Sprintf("%s-other-seller-%d", buyer, i), "", fmt.Sprintf("%d.00", 100+i*10), "USD", now.Add(-time.Duration(10+i*30)*24*time.Hour))
	}
	for i := range 30 {
		e.observe(fmt.Sprintf("%s-other-buyer-%d", seller, i), seller, "", fmt.Sprintf("%d.00", 100+i*13), "USD", now.Add(-time.Duration(20+i*29)*24*time.Hour))
	}
}

// release is an ordinary release input between established Dutch parties.
type release struct {
	buyer, seller     string
	amount, currency  string
	buyerName         string
	sellerName        string
	buyerC, sellerC   string
	ctx               map[string]string
	escrowID, subject uuid.UUID
}

func (e *env) newRelease(buyer, seller string) *release {
	return &release{buyer: buyer, seller: seller, amount: "250.00", currency: "USD", buyerName: "Anna de Vries", sellerName: "Pieter Jansen",
		buyerC: "NL", sellerC: "NL", ctx: map[string]string{"ip_country": "NL", "device_country": "NL", "device_id": buyer + "-phone"},
		subject: uuid.Must(uuid.NewV7())}
}

func (r *release) input(tenant uuid.UUID) GateInput {
	return GateInput{TenantID: tenant, Operation: OperationRelease, SubjectType: SubjectRelease, SubjectID: r.subject, EscrowID: r.escrowID,
		Amount: decimal.RequireFromString(r.amount), Currency: r.currency,
		Buyer:  Party{ID: r.buyer, Name: r.buyerName, Country: r.buyerC},
		Seller: Party{ID: r.seller, Name: r.sellerName, Country: r.sellerC}, Payee: r.seller, RiskContext: r.ctx}
}

// decide runs the gate on r in a committed transaction.
func (e *env) decide(r *release) GateDecision {
	e.t.Helper()
	gd, err := e.tryDecide(r.input(e.tenant))
	if err != nil {
		e.t.Fatal(err)
	}
	return gd
}

func (e *env) tryDecide(in GateInput) (GateDecision, error) {
	var gd GateDecision
	err := e.db.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		gd, err = e.gate.Decide(context.Background(), tx, in, e.clock.Now())
		return err
	})
	return gd, err
}

// count returns the single integer a query answers.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *env) alerts(subject uuid.UUID) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM events WHERE tenant_id = $1 AND type = 'risk.alert' AND subject_id = $2`, e.tenant, subject.String())
}

func reasonCodes(d Decision) []string {
	out := []string{}
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	return out
}

func hasReason(d Decision, code string) bool { return slices.Contains(reasonCodes(d), code) }
