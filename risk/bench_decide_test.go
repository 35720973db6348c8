package risk

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Benchmark data sizes.
const (
	benchEscrows   = 1_000_000 // past escrows (observations)
	benchBuyers    = 200_000
	benchSellers   = 10_000
	benchDevices   = 300_000
	benchDecisions = 100_000 // past release decisions, for seller velocity
)

// seedBench fills e's tenant with benchEscrows observations over about a
// year (every 20th escrow belongs to one hot seller, 50,000 in all; 2% are
// disputed), benchDecisions release decisions over 30 days (2,000 of the
// hot seller's in the last day), and the real sanctions list; then
// VACUUM ANALYZE, as autovacuum would.
func seedBench(b *testing.B, e *env) {
	ctx := context.Background()
	start := time.Now()
	now := e.clock.Now()
	_, err := e.db.Pool.Exec(ctx, `
		INSERT INTO risk_observations (tenant_id, escrow_id, buyer_id, seller_id, device_id, ip, amount, currency, amount_usd, observed_at, disputed_at)
		SELECT $1, gen_random_uuid(), 'buyer-' || (i % $3),
			CASE WHEN i % 20 = 0 THEN 'seller-hot' ELSE 'seller-' || (i % $4) END,
			'device-' || (i % $5), '', a, 'USD', a, $2::TIMESTAMPTZ - i * INTERVAL '31 seconds',
			CASE WHEN i % 50 = 0 THEN $2::TIMESTAMPTZ - i * INTERVAL '31 seconds' + INTERVAL '3 days' END
		FROM (SELECT i, round(1 + ((i * 7919) % 250000) / 100.0, 2) AS a FROM generate_series(1, $6::INT8) AS i) AS s`,
		e.tenant, now, benchBuyers, benchSellers, benchDevices, benchEscrows)
	if err != nil {
		b.Fatal(err)
	}
	_, err = e.db.Pool.Exec(ctx, `
		INSERT INTO risk_decisions (id, tenant_id, operation, subject_type, subject_id, escrow_id, amount, currency, outcome, score, reasons,
			rules_version, features, created_at, buyer_id, seller_id)
		SELECT gen_random_uuid(), $1, 'release', 'release', gen_random_uuid(), NULL, 100, 'USD', 'approve', 0, '[]', 1, '{}',
			CASE WHEN i % 50 = 0 THEN $2::TIMESTAMPTZ - (i / 50) * INTERVAL '43 seconds' ELSE $2::TIMESTAMPTZ - i * INTERVAL '25 seconds' END,
			'buyer-' || (i % $3), CASE WHEN i % 50 = 0 THEN 'seller-hot' ELSE 'seller-' || (i % $4) END
		FROM generate_series(1, $5::INT8) AS i`,
		e.tenant, now, benchBuyers, benchSellers, benchDecisions)
	if err != nil {
		b.Fatal(err)
	}
	for _, table := range []string{"risk_observations", "risk_decisions"} {
		if _, err := e.db.Pool.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			b.Fatal(err)
		}
	}
	e.loadRealList()
	b.Logf("seeded %d escrows and %d decisions in %v", benchEscrows, benchDecisions, time.Since(start).Round(time.Second))
}

// benchInputs returns n releases between parties of the seeded data, one
// in ten by the hot seller, with the names of screenWorkload (one in ten
// on the list, so some decisions block and open a review).
func benchInputs(e *env, n int) []GateInput {
	names := screenWorkload(n)
	out := make([]GateInput, n)
	for i := range out {
		k := i * 7717
		seller := fmt.Sprintf("seller-%d", k%benchSellers)
		if i%10 == 0 {
			seller = "seller-hot"
		}
		out[i] = GateInput{TenantID: e.tenant, Operation: OperationRelease, SubjectType: SubjectRelease, EscrowID: uuid.Must(uuid.NewV7()),
			Amount: decimal.NewFromInt(int64(20 + k%3000)), Currency: "USD",
			Buyer:       Party{ID: fmt.Sprintf("buyer-%d", k%benchBuyers), Name: names[i], Country: "NL"},
			Seller:      Party{ID: seller, Name: names[(i+1)%n], Country: "DE"},
			RiskContext: map[string]string{"device_id": fmt.Sprintf("device-%d", k%benchDevices), "ip_country": "NL"}}
	}
	return out
}

// BenchmarkDecide measures Gate.Decide, its feature queries, screening of
// both names against the real list and its writes included, on a database
// holding 1,000,000 past escrows. Each decision runs in its own
// transaction; p50/p99 of Decide alone and of the whole transaction are
// reported, and, as parts of it, of its read (readState, one statement)
// and of screening both names. Run it on a quiet machine:
//
//	scripts/with-db.sh test go test -run='^$' -bench=BenchmarkDecide -benchtime=3000x ./risk/
func BenchmarkDecide(b *testing.B) {
	e := newEnv(b)
	seedBench(b, e)
	ctx := context.Background()
	explainFeatures(b, e)
	inputs := benchInputs(e, 1000)
	// Warm the caches (rules, screener) outside the measurement.
	warm := inputs[0]
	warm.SubjectID = uuid.Must(uuid.NewV7())
	if _, err := e.tryDecide(warm); err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, name string, d []time.Duration) {
		slices.Sort(d)
		pct := func(p int) float64 { return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) }
		b.ReportMetric(pct(50), name+"-p50-µs")
		b.ReportMetric(pct(99), name+"-p99-µs")
	}
	b.Run("decide", func(b *testing.B) {
		var decide, whole []time.Duration
		byOutcome := map[string][]time.Duration{}
		for i := 0; b.Loop(); i++ {
			in := inputs[i%len(inputs)]
			in.SubjectID = uuid.Must(uuid.NewV7())
			t0 := time.Now()
			err := e.db.Tx(ctx, func(tx pgx.Tx) error {
				t1 := time.Now()
				d, err := e.gate.Decide(ctx, tx, in, e.clock.Now())
				decide = append(decide, time.Since(t1))
				byOutcome[d.Outcome] = append(byOutcome[d.Outcome], decide[len(decide)-1])
				if in.Seller.ID == "seller-hot" {
					byOutcome["(hot seller)"] = append(byOutcome["(hot seller)"], decide[len(decide)-1])
				} else {
					byOutcome["(other sellers)"] = append(byOutcome["(other sellers)"], decide[len(decide)-1])
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			whole = append(whole, time.Since(t0))
		}
		report(b, "decide", decide)
		report(b, "tx", whole)
		for o, d := range byOutcome {
			slices.Sort(d)
			b.Logf("%s: %d decisions, p50 %v, p99 %v, max %v", o, len(d), d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1])
		}
	})
	b.Run("reads", func(b *testing.B) {
		var reads []time.Duration
		for i := 0; b.Loop(); i++ {
			in := inputs[i%len(inputs)]
			err := e.db.ReadTx(ctx, func(tx pgx.Tx) error {
				t0 := time.Now()
				var f Features
				_, err := readState(ctx, tx, in, in.RiskContext["device_id"], e.clock.Now(), &f, nil)
				reads = append(reads, time.Since(t0))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, "reads", reads)
	})
	b.Run("screen", func(b *testing.B) {
		id, err := currentListID(ctx, e.db.Pool, e.tenant)
		if err != nil {
			b.Fatal(err)
		}
		scr, err := e.gate.sanctions.screener(ctx, e.db.Pool, e.tenant, id)
		if err != nil || scr == nil {
			b.Fatal("no screener", err)
		}
		var screens []time.Duration
		for i := 0; b.Loop(); i++ {
			in := inputs[i%len(inputs)]
			t0 := time.Now()
			screenNames(scr, in.Buyer, in.Seller)
			screens = append(screens, time.Since(t0))
		}
		report(b, "screen2", screens)
	})
}

// explainFeatures logs the plan of the state query for the hot seller and
// fails on a sequential scan.
func explainFeatures(b *testing.B, e *env) {
	now := e.clock.Now()
	rows, err := e.db.Pool.Query(context.Background(), "EXPLAIN "+stateSQL,
		e.tenant, "buyer-1", "seller-hot", uuid.Nil, MaxHistoryEscrows, now, now.Add(-time.Hour), now.Add(-24*time.Hour), MaxVelocityCount, CardTestingMaxUSD, "device-1")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("feature query plan:\n%s", strings.Join(plan, "\n"))
	for _, line := range plan {
		if strings.Contains(line, "Seq Scan") {
			b.Errorf("feature query scans a table: %s", line)
		}
	}
}
