package risk

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// state is what Decide reads besides the features.
type state struct {
	rulesVersion int        // 0: the defaults
	listID       *uuid.UUID // nil: no sanctions list
}

// SQL of the gate's reads. hardColumns are read in the caller's
// transaction, always: a freeze, a rule change or a new sanctions list that
// commits concurrently must conflict with the payout. featureColumns and
// featureFrom compute the history and velocity features; every subquery is
// bounded (LIMIT) and reads one index: the buyer's and seller's most
// recent escrows, first-seen times, the seller's releases over 24 h
// (risk_decisions), the buyer's and the device's escrows over the last
// hour with the tiny ones among them. The first-seen times are written as
// ORDER BY … LIMIT 1, not min(): on a table without statistics (a new
// database) PostgreSQL planned min() as a scan of the tenant's whole range
// in another index (risk_observations_device, filtered by party), under
// SERIALIZABLE a predicate lock on all of it.
const (
	hardColumns = `
	(SELECT count(*) FROM party_freezes WHERE tenant_id = $1 AND party_id IN ($2, $3)),
	(SELECT max(version) FROM risk_rule_sets WHERE tenant_id = $1),
	(SELECT id FROM sanctions_lists WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1)`
	featureColumns = `
	b.n, b.vol, b.pct,
	s.n, s.vol, s.pct, s.disputed,
	(SELECT observed_at FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2 ORDER BY observed_at LIMIT 1),
	(SELECT observed_at FROM risk_observations WHERE tenant_id = $1 AND seller_id = $3 ORDER BY observed_at LIMIT 1),
	r.h1, r.h24, bv.n, bv.tiny, dv.n, dv.tiny`
	featureFrom = `
FROM
	(SELECT count(*) AS n, COALESCE(sum(amount_usd), 0) AS vol,
		percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY amount_usd) AS pct
	FROM (SELECT amount_usd FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2 AND escrow_id <> $4
		ORDER BY observed_at DESC LIMIT $5) AS h) AS b,
	(SELECT count(*) AS n, COALESCE(sum(amount_usd), 0) AS vol,
		percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY amount_usd) AS pct,
		count(disputed_at) AS disputed
	FROM (SELECT amount_usd, disputed_at FROM risk_observations WHERE tenant_id = $1 AND seller_id = $3 AND escrow_id <> $4
		ORDER BY observed_at DESC LIMIT $5) AS h) AS s,
	(SELECT count(*) AS h24, count(CASE WHEN created_at > $7 THEN 1 END) AS h1
	FROM (SELECT created_at FROM risk_decisions WHERE tenant_id = $1 AND seller_id = $3 AND operation = 'release'
		AND created_at > $8 AND created_at <= $6 ORDER BY created_at DESC LIMIT $9) AS x) AS r,
	(SELECT count(*) AS n, count(CASE WHEN amount_usd < $10 THEN 1 END) AS tiny
	FROM (SELECT amount_usd FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2
		AND observed_at > $7 AND observed_at <= $6 ORDER BY observed_at DESC LIMIT $9) AS x) AS bv,
	(SELECT count(*) AS n, count(CASE WHEN amount_usd < $10 THEN 1 END) AS tiny
	FROM (SELECT amount_usd FROM risk_observations WHERE tenant_id = $1 AND device_id = $11 AND $11 <> ''
		AND observed_at > $7 AND observed_at <= $6 ORDER BY observed_at DESC LIMIT $9) AS x) AS dv`

	// stateSQL reads everything in one statement.
	stateSQL = `SELECT` + hardColumns + `,` + featureColumns + featureFrom
	// hardSQL reads the hard state alone (features from a snapshot).
	hardSQL = `SELECT` + hardColumns
	// featureSQL reads the features alone (ReadFeatures).
	featureSQL = `SELECT` + featureColumns + featureFrom
)

// featureArgs are the arguments of stateSQL and featureSQL.
func featureArgs(in GateInput, device string, now time.Time) []any {
	return []any{in.TenantID, in.Buyer.ID, in.Seller.ID, in.EscrowID, MaxHistoryEscrows,
		now, now.Add(-time.Hour), now.Add(-24 * time.Hour), MaxVelocityCount, CardTestingMaxUSD, device}
}

// featureRow receives featureColumns.
type featureRow struct {
	bn, sn, disputed, h1, h24, bvn, bvt, dvn, dvt int64
	bVol, sVol                                    decimal.Decimal
	bPct, sPct                                    []decimal.NullDecimal
	bFirst, sFirst                                *time.Time
}

func (r *featureRow) dest() []any {
	return []any{&r.bn, &r.bVol, &r.bPct, &r.sn, &r.sVol, &r.sPct, &r.disputed,
		&r.bFirst, &r.sFirst, &r.h1, &r.h24, &r.bvn, &r.bvt, &r.dvn, &r.dvt}
}

// fill sets f's history and velocity features.
func (r *featureRow) fill(f *Features, now time.Time) {
	f.BuyerEscrowCount, f.SellerEscrowCount = int(r.bn), int(r.sn)
	f.BuyerVolumeUSD, f.SellerVolumeUSD = r.bVol, r.sVol
	f.BuyerMedianAmountUSD, f.BuyerP95AmountUSD = percentiles(r.bPct)
	f.SellerMedianAmountUSD, f.SellerP95AmountUSD = percentiles(r.sPct)
	f.SellerDisputeRate = 0
	if r.sn > 0 {
		f.SellerDisputeRate = float64(r.disputed) / float64(r.sn)
	}
	f.BuyerFirstSeenDays, f.SellerFirstSeenDays = daysSince(r.bFirst, now), daysSince(r.sFirst, now)
	f.SellerReleases1h, f.SellerReleases24h = int(r.h1), int(r.h24)
	f.BuyerEscrows1h, f.TinyEscrowsBuyer1h = int(r.bvn), int(r.bvt)
	f.DeviceEscrows1h, f.TinyEscrowsDevice1h = int(r.dvn), int(r.dvt)
}

// hardRow receives hardColumns.
type hardRow struct {
	frozen  int64
	version *int64
	listID  *uuid.UUID
}

func (r *hardRow) dest() []any { return []any{&r.frozen, &r.version, &r.listID} }

func (r *hardRow) state(f *Features) state {
	f.PartyFrozen = r.frozen > 0
	st := state{listID: r.listID}
	if r.version != nil {
		st.rulesVersion = int(*r.version)
	}
	return st
}

// readState reads the hard state in tx and fills f's party_frozen feature;
// the history and velocity features come from snap when given, else from
// tx in the same statement (one round trip either way).
func readState(ctx context.Context, tx pgx.Tx, in GateInput, device string, now time.Time, f *Features, snap *FeatureSnapshot) (state, error) {
	var h hardRow
	if snap != nil {
		if err := tx.QueryRow(ctx, hardSQL, in.TenantID, in.Buyer.ID, in.Seller.ID).Scan(h.dest()...); err != nil {
			return state{}, fmt.Errorf("risk: decide: %w", err)
		}
		snap.fill(f)
		return h.state(f), nil
	}
	var r featureRow
	if err := tx.QueryRow(ctx, stateSQL, featureArgs(in, device, now)...).Scan(append(h.dest(), r.dest()...)...); err != nil {
		return state{}, fmt.Errorf("risk: decide: features: %w", err)
	}
	r.fill(f, now)
	return h.state(f), nil
}

// FeatureSnapshot is the history and velocity features of one payout,
// read before its write transaction (see ReadFeatures).
type FeatureSnapshot struct {
	tenant                uuid.UUID
	buyer, seller, escrow string
	features              Features
	ReadAt                time.Time
}

// ReadFeatures reads the history and velocity features of the payout in
// through q, typically the pool (a READ COMMITTED snapshot) before the
// write transaction, and returns them for GateInput.Features. Decide then
// reads only the hard state (freezes, rule set version, sanctions list)
// in the transaction: its reads of the seller's recent decisions and
// escrows no longer take predicate locks in the ranges that concurrent
// payouts of the same seller insert into, so those payouts do not abort
// each other under SERIALIZABLE. The price: escrows and decisions that
// commit between the snapshot and the decision are not counted, which
// the velocity and history signals tolerate.
func (g *Gate) ReadFeatures(ctx context.Context, q db.Querier, in GateInput, now time.Time) (*FeatureSnapshot, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	device := strings.TrimSpace(in.RiskContext["device_id"])
	var r featureRow
	if err := q.QueryRow(ctx, featureSQL, featureArgs(in, device, now)...).Scan(r.dest()...); err != nil {
		return nil, fmt.Errorf("risk: read features: %w", err)
	}
	s := &FeatureSnapshot{tenant: in.TenantID, buyer: in.Buyer.ID, seller: in.Seller.ID, escrow: in.EscrowID.String(), ReadAt: now}
	r.fill(&s.features, now)
	return s, nil
}

// matches reports whether the snapshot was read for in's parties.
func (s *FeatureSnapshot) matches(in GateInput) bool {
	return s != nil && s.tenant == in.TenantID && s.buyer == in.Buyer.ID && s.seller == in.Seller.ID && s.escrow == in.EscrowID.String()
}

// fill copies the snapshot's history and velocity features into f.
func (s *FeatureSnapshot) fill(f *Features) {
	x := s.features
	f.BuyerEscrowCount, f.SellerEscrowCount = x.BuyerEscrowCount, x.SellerEscrowCount
	f.BuyerVolumeUSD, f.SellerVolumeUSD = x.BuyerVolumeUSD, x.SellerVolumeUSD
	f.BuyerMedianAmountUSD, f.BuyerP95AmountUSD = x.BuyerMedianAmountUSD, x.BuyerP95AmountUSD
	f.SellerMedianAmountUSD, f.SellerP95AmountUSD = x.SellerMedianAmountUSD, x.SellerP95AmountUSD
	f.SellerDisputeRate = x.SellerDisputeRate
	f.BuyerFirstSeenDays, f.SellerFirstSeenDays = x.BuyerFirstSeenDays, x.SellerFirstSeenDays
	f.SellerReleases1h, f.SellerReleases24h = x.SellerReleases1h, x.SellerReleases24h
	f.BuyerEscrows1h, f.TinyEscrowsBuyer1h = x.BuyerEscrows1h, x.TinyEscrowsBuyer1h
	f.DeviceEscrows1h, f.TinyEscrowsDevice1h = x.DeviceEscrows1h, x.TinyEscrowsDevice1h
}

// percentiles unpacks percentile_disc(ARRAY[0.5, 0.95]): zero for none.
func percentiles(p []decimal.NullDecimal) (median, p95 decimal.Decimal) {
	if len(p) == 2 {
		return p[0].Decimal, p[1].Decimal
	}
	return decimal.Decimal{}, decimal.Decimal{}
}

// daysSince is the number of whole days from first to now, 0 for never
// seen (first seen now).
func daysSince(first *time.Time, now time.Time) int {
	if first == nil || !first.Before(now) {
		return 0
	}
	return int(now.Sub(*first) / (24 * time.Hour))
}
