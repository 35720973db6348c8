package risk

import (
	"context"
	"fmt"
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

// escrowDevice returns the device the escrow was created from ("" if
// unknown), for requests that do not name their own.
func escrowDevice(ctx context.Context, q db.Querier, tenant, escrowID uuid.UUID) (string, error) {
	var device string
	err := q.QueryRow(ctx, `SELECT device_id FROM risk_observations WHERE tenant_id = $1 AND escrow_id = $2`, tenant, escrowID).Scan(&device)
	if err != nil && !db.IsNoRows(err) {
		return "", fmt.Errorf("risk: decide: escrow device: %w", err)
	}
	return device, nil
}

// stateSQL reads, in one statement: whether a party is frozen, the
// tenant's rule set version and sanctions list, and the history and
// velocity features. Every subquery is bounded (LIMIT) and reads one
// index: the buyer's and seller's most recent escrows, first-seen times,
// the seller's releases over 24 h (risk_decisions), the buyer's and the
// device's escrows over the last hour with the tiny ones among them.
const stateSQL = `
SELECT
	(SELECT count(*) FROM party_freezes WHERE tenant_id = $1 AND party_id IN ($2, $3)),
	(SELECT max(version) FROM risk_rule_sets WHERE tenant_id = $1),
	(SELECT id FROM sanctions_lists WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1),
	b.n, b.vol, b.pct,
	s.n, s.vol, s.pct, s.disputed,
	(SELECT min(observed_at) FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2),
	(SELECT min(observed_at) FROM risk_observations WHERE tenant_id = $1 AND seller_id = $3),
	r.h1, r.h24, bv.n, bv.tiny, dv.n, dv.tiny
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

// readState reads the state and fills f's history, velocity and
// party_frozen features (see stateSQL), in one round trip.
func readState(ctx context.Context, tx pgx.Tx, in GateInput, device string, now time.Time, f *Features) (state, error) {
	var (
		st                                                    state
		frozen, bn, sn, disputed, h1, h24, bvn, bvt, dvn, dvt int64
		version                                               *int64
		bPct, sPct                                            []decimal.NullDecimal
		bFirst, sFirst                                        *time.Time
	)
	err := tx.QueryRow(ctx, stateSQL,
		in.TenantID, in.Buyer.ID, in.Seller.ID, in.EscrowID, MaxHistoryEscrows,
		now, now.Add(-time.Hour), now.Add(-24*time.Hour), MaxVelocityCount, CardTestingMaxUSD, device).
		Scan(&frozen, &version, &st.listID,
			&bn, &f.BuyerVolumeUSD, &bPct,
			&sn, &f.SellerVolumeUSD, &sPct, &disputed,
			&bFirst, &sFirst, &h1, &h24, &bvn, &bvt, &dvn, &dvt)
	if err != nil {
		return state{}, fmt.Errorf("risk: decide: features: %w", err)
	}
	if version != nil {
		st.rulesVersion = int(*version)
	}
	f.PartyFrozen = frozen > 0
	f.BuyerEscrowCount, f.SellerEscrowCount = int(bn), int(sn)
	f.BuyerMedianAmountUSD, f.BuyerP95AmountUSD = percentiles(bPct)
	f.SellerMedianAmountUSD, f.SellerP95AmountUSD = percentiles(sPct)
	if sn > 0 {
		f.SellerDisputeRate = float64(disputed) / float64(sn)
	}
	f.BuyerFirstSeenDays, f.SellerFirstSeenDays = daysSince(bFirst, now), daysSince(sFirst, now)
	f.SellerReleases1h, f.SellerReleases24h = int(h1), int(h24)
	f.BuyerEscrows1h, f.TinyEscrowsBuyer1h = int(bvn), int(bvt)
	f.DeviceEscrows1h, f.TinyEscrowsDevice1h = int(dvn), int(dvt)
	return st, nil
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
