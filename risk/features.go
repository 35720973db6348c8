package risk

import (
	"maps"
	"math"

	"cel.dev/cel-go/cel"
	"github.com/shopspring/decimal"
)

// Operations a risk decision is taken for.
const (
	OperationRelease = "release"
	OperationRefund  = "refund"
)

// Features are the facts about one release or refund that risk rules
// look at. Whoever builds them (the gate, from the database) fills every
// field; zero values mean "none" (no escrows, no disputes, unknown
// country).
//
// Rules see each field as a CEL variable named by its json tag
// (snake_case); see Activation. Money is decimal.Decimal here. Rules
// see it as a CEL double, which is only ever used to compare against a
// threshold, never to compute an amount, and AmountUSD and
// EscrowPayoutsUSD24h also as exact integer cents (amount_usd_cents,
// escrow_payouts_usd_cents_24h), which rules should prefer for thresholds
// on amounts.
type Features struct {
	// AmountUSD is the amount of the escrow being released or refunded,
	// converted to US dollars.
	AmountUSD decimal.Decimal `json:"amount_usd"`
	// EscrowPayoutsUSD24h is the USD value of the escrow's payouts of
	// this operation (releases to the seller, or refunds to the buyer)
	// completed in the last PayoutsWindow or still waiting for a review
	// or the buyer's code, this payout included (GateInput.EscrowPayouts):
	// a payout split in parts, or released milestone by milestone, adds
	// up here. Rules see it also as exact integer cents
	// (escrow_payouts_usd_cents_24h).
	EscrowPayoutsUSD24h decimal.Decimal `json:"escrow_payouts_usd_24h"`

	// History features (counts, volumes, median, p95, dispute rate) are
	// over the party's other escrows as risk observed them at creation
	// (see Observe), the most recent MaxHistoryEscrows of them: counts
	// saturate there. Amounts whose USD value was unknown count in the
	// counts but not in the amounts.

	// BuyerEscrowCount is how many other escrows the buyer has opened.
	BuyerEscrowCount int `json:"buyer_escrow_count"`
	// BuyerVolumeUSD is the buyer's escrow volume in USD.
	BuyerVolumeUSD decimal.Decimal `json:"buyer_volume_usd"`
	// BuyerMedianAmountUSD is the median of the buyer's escrow amounts.
	BuyerMedianAmountUSD decimal.Decimal `json:"buyer_median_amount_usd"`
	// BuyerP95AmountUSD is the 95th percentile of the buyer's escrow
	// amounts.
	BuyerP95AmountUSD decimal.Decimal `json:"buyer_p95_amount_usd"`
	// SellerEscrowCount is how many other escrows the seller has had.
	SellerEscrowCount int `json:"seller_escrow_count"`
	// SellerVolumeUSD is the seller's escrow volume in USD.
	SellerVolumeUSD decimal.Decimal `json:"seller_volume_usd"`
	// SellerMedianAmountUSD is the median of the seller's escrow amounts.
	SellerMedianAmountUSD decimal.Decimal `json:"seller_median_amount_usd"`
	// SellerP95AmountUSD is the 95th percentile of the seller's escrow
	// amounts.
	SellerP95AmountUSD decimal.Decimal `json:"seller_p95_amount_usd"`

	// BuyerFirstSeenDays is how many whole days ago the buyer was first
	// seen.
	BuyerFirstSeenDays int `json:"buyer_first_seen_days"`
	// SellerFirstSeenDays is how many whole days ago the seller was
	// first seen.
	SellerFirstSeenDays int `json:"seller_first_seen_days"`

	// SellerReleases1h is how many of the seller's escrows were released
	// in the last hour.
	SellerReleases1h int `json:"seller_releases_1h"`
	// SellerReleases24h is the same over 24 hours.
	SellerReleases24h int `json:"seller_releases_24h"`
	// BuyerEscrows1h is how many escrows the buyer opened in the last
	// hour.
	BuyerEscrows1h int `json:"buyer_escrows_1h"`
	// DeviceEscrows1h is how many escrows were opened from the acting
	// device in the last hour, by anyone.
	DeviceEscrows1h int `json:"device_escrows_1h"`
	// SellerDisputeRate is the fraction, 0 to 1, of the seller's escrows
	// that were disputed. It is a ratio, not money.
	SellerDisputeRate float64 `json:"seller_dispute_rate"`
	// TinyEscrowsBuyer1h is how many tiny escrows (below the gate's
	// card-testing amount) the buyer opened in the last hour.
	TinyEscrowsBuyer1h int `json:"tiny_escrows_buyer_1h"`
	// TinyEscrowsDevice1h is the same for the acting device.
	TinyEscrowsDevice1h int `json:"tiny_escrows_device_1h"`

	// LocalHour is the hour of day, 0 to 23, in the acting party's
	// country (standard time, see LocalHour), or -1 when the country is
	// unknown.
	LocalHour int `json:"local_hour"`
	// IPCountry is the ISO 3166-1 alpha-2 country of the acting
	// request's IP address, "" if unknown.
	IPCountry string `json:"ip_country"`
	// DeviceCountry is the country the acting device reports, "" if
	// unknown.
	DeviceCountry string `json:"device_country"`
	// BuyerCountry is the buyer's registered country.
	BuyerCountry string `json:"buyer_country"`
	// SellerCountry is the seller's registered country.
	SellerCountry string `json:"seller_country"`

	// PartyFrozen is true when either party's account is frozen.
	PartyFrozen bool `json:"party_frozen"`
	// SanctionsMatch is true when either party's name matched the
	// sanctions list (see Screener).
	SanctionsMatch bool `json:"sanctions_match"`
	// SanctionsPossibleMatch is true when either party's name matched
	// only as a possible match (Match.Partial) and neither matched
	// fully: a reviewer decides.
	SanctionsPossibleMatch bool `json:"sanctions_possible_match"`
	// SanctionsScore is the best screening score of either party, 0 to
	// 1; a similarity, not money.
	SanctionsScore float64 `json:"sanctions_score"`

	// Operation is OperationRelease (the buyer acts) or OperationRefund
	// (the seller acts).
	Operation string `json:"operation"`
	// Context is the risk_context the marketplace sent with the
	// request. Looking up a key that is absent is an evaluation error,
	// so rules should test `"k" in context` first.
	Context map[string]string `json:"context"`
}

// featureVars declares the CEL variables of Features, in the order of
// the struct. Activation must set exactly these.
var featureVars = []struct {
	name string
	typ  *cel.Type
}{
	{"amount_usd", cel.DoubleType},
	{"amount_usd_cents", cel.IntType},
	{"escrow_payouts_usd_24h", cel.DoubleType},
	{"escrow_payouts_usd_cents_24h", cel.IntType},
	{"buyer_escrow_count", cel.IntType},
	{"buyer_volume_usd", cel.DoubleType},
	{"buyer_median_amount_usd", cel.DoubleType},
	{"buyer_p95_amount_usd", cel.DoubleType},
	{"seller_escrow_count", cel.IntType},
	{"seller_volume_usd", cel.DoubleType},
	{"seller_median_amount_usd", cel.DoubleType},
	{"seller_p95_amount_usd", cel.DoubleType},
	{"buyer_first_seen_days", cel.IntType},
	{"seller_first_seen_days", cel.IntType},
	{"seller_releases_1h", cel.IntType},
	{"seller_releases_24h", cel.IntType},
	{"buyer_escrows_1h", cel.IntType},
	{"device_escrows_1h", cel.IntType},
	{"seller_dispute_rate", cel.DoubleType},
	{"tiny_escrows_buyer_1h", cel.IntType},
	{"tiny_escrows_device_1h", cel.IntType},
	{"local_hour", cel.IntType},
	{"ip_country", cel.StringType},
	{"device_country", cel.StringType},
	{"buyer_country", cel.StringType},
	{"seller_country", cel.StringType},
	{"party_frozen", cel.BoolType},
	{"sanctions_match", cel.BoolType},
	{"sanctions_possible_match", cel.BoolType},
	{"sanctions_score", cel.DoubleType},
	{"operation", cel.StringType},
	{"context", cel.MapType(cel.StringType, cel.StringType)},
}

// Activation returns the values of f under their CEL variable names, as
// CEL sees them: decimals as float64 (AmountUSD and EscrowPayoutsUSD24h
// also as int64 cents, rounded half away from zero and saturating at the
// int64 range),
// counts as int64, Context as a map that is never nil.
func (f Features) Activation() map[string]any {
	ctx := f.Context
	if ctx == nil {
		ctx = map[string]string{}
	}
	return map[string]any{
		"amount_usd":                   f.AmountUSD.InexactFloat64(),
		"amount_usd_cents":             cents(f.AmountUSD),
		"escrow_payouts_usd_24h":       f.EscrowPayoutsUSD24h.InexactFloat64(),
		"escrow_payouts_usd_cents_24h": cents(f.EscrowPayoutsUSD24h),
		"buyer_escrow_count":           int64(f.BuyerEscrowCount),
		"buyer_volume_usd":             f.BuyerVolumeUSD.InexactFloat64(),
		"buyer_median_amount_usd":      f.BuyerMedianAmountUSD.InexactFloat64(),
		"buyer_p95_amount_usd":         f.BuyerP95AmountUSD.InexactFloat64(),
		"seller_escrow_count":          int64(f.SellerEscrowCount),
		"seller_volume_usd":            f.SellerVolumeUSD.InexactFloat64(),
		"seller_median_amount_usd":     f.SellerMedianAmountUSD.InexactFloat64(),
		"seller_p95_amount_usd":        f.SellerP95AmountUSD.InexactFloat64(),
		"buyer_first_seen_days":        int64(f.BuyerFirstSeenDays),
		"seller_first_seen_days":       int64(f.SellerFirstSeenDays),
		"seller_releases_1h":           int64(f.SellerReleases1h),
		"seller_releases_24h":          int64(f.SellerReleases24h),
		"buyer_escrows_1h":             int64(f.BuyerEscrows1h),
		"device_escrows_1h":            int64(f.DeviceEscrows1h),
		"seller_dispute_rate":          f.SellerDisputeRate,
		"tiny_escrows_buyer_1h":        int64(f.TinyEscrowsBuyer1h),
		"tiny_escrows_device_1h":       int64(f.TinyEscrowsDevice1h),
		"local_hour":                   int64(f.LocalHour),
		"ip_country":                   f.IPCountry,
		"device_country":               f.DeviceCountry,
		"buyer_country":                f.BuyerCountry,
		"seller_country":               f.SellerCountry,
		"party_frozen":                 f.PartyFrozen,
		"sanctions_match":              f.SanctionsMatch,
		"sanctions_possible_match":     f.SanctionsPossibleMatch,
		"sanctions_score":              f.SanctionsScore,
		"operation":                    f.Operation,
		"context":                      ctx,
	}
}

// clone returns f with its own copy of Context.
func (f Features) clone() Features {
	f.Context = maps.Clone(f.Context)
	return f
}

var (
	maxCents = decimal.NewFromInt(math.MaxInt64)
	minCents = decimal.NewFromInt(math.MinInt64)
)

// cents converts a USD amount to whole cents, rounding half away from
// zero and saturating at the int64 range.
func cents(d decimal.Decimal) int64 {
	c := d.Shift(2).Round(0)
	switch {
	case c.GreaterThan(maxCents):
		return math.MaxInt64
	case c.LessThan(minCents):
		return math.MinInt64
	}
	return c.IntPart()
}
