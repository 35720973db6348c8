package escrow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

// A chargeback in a captured currency. An escrow funded through an FX
// quote was paid in the buyer's currency X: the PSP captured X (cash:psp:X
// debited), the conversion credited the escrow in its own currency. The
// PSP charges back what it captured, in X. Booked in the escrow's currency
// it would credit cash:psp:<escrow currency>, an account that never
// received that money, and leave cash:psp:X with money the PSP no longer
// holds. So the chargeback goes back the way the funding came (see
// ApplyChargeback and fx.ReverseAmount): the escrow's currency to fx:<CUR>
// at the fundings' own rate, X from fx:X to cash:psp:X. The spread revenue
// and rounding of the original conversions stay as booked; fx:<CUR> and
// fx:X hold the platform's position with the FX counterparty.

// chargebackInEscrowCurrency is in's amount in the escrow's currency. In
// the escrow's currency it is in.Amount, at most what fundings in that
// currency captured and earlier chargebacks in it did not take: money an
// FX funding brought was captured in another currency, and a chargeback
// of it in the escrow's currency would credit cash:psp:<CUR>, which never
// received it. In a currency the escrow was funded in through FX it is,
// of what the escrow's fundings in that currency captured (sold) and
// credited to the escrow (bought), the cumulative share less what the
// earlier chargebacks in it not won took (fx.ReverseAmount), so that
// charging back everything captured takes back exactly what was credited,
// also after a funding at another rate or a won chargeback. A currency the
// escrow was not funded in is a validation error naming currency, listing
// those allowed; more than was captured in it and not charged back yet is
// amount_mismatch.
func chargebackInEscrowCurrency(ctx context.Context, tx pgx.Tx, e Escrow, in ChargebackInput) (decimal.Decimal, error) {
	// One row per currency: at most the ISO 4217 table.
	rows, err := tx.Query(ctx, `SELECT currency, sum(amount), sum(credited) FROM escrow_fundings
		WHERE escrow_id = $1 GROUP BY currency ORDER BY currency`, e.ID)
	if err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: fundings: %w", e.ID, err)
	}
	allowed := []string{e.Currency}
	sold, bought := decimal.Zero, decimal.Zero
	var code string
	var s, b decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&code, &s, &b}, func() error {
		if code != e.Currency {
			allowed = append(allowed, code)
		}
		if code == in.Currency {
			sold, bought = s, b
		}
		return nil
	}); err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: fundings: %w", e.ID, err)
	}
	if in.Currency != e.Currency && !sold.IsPositive() {
		return decimal.Zero, valid.Field("currency", fmt.Sprintf("must be %s: the escrow's currency or one it was funded in", strings.Join(allowed, " or ")))
	}
	if most := sold.Sub(in.ChargedBeforeIn); in.Amount.GreaterThan(most) {
		return decimal.Zero, valid.FieldCode(codeAmountMismatch, "amount", fmt.Sprintf("%s %s exceeds the %s %s captured in %s for the escrow and not charged back yet",
			fmtAmount(in.Amount, in.Currency), in.Currency, fmtAmount(decimal.Max(most, decimal.Zero), in.Currency), in.Currency, in.Currency))
	}
	if in.Currency == e.Currency {
		return in.Amount, nil
	}
	cur, err := money.Lookup(e.Currency)
	if err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: %w", e.ID, err)
	}
	amount, err := fx.ReverseAmount(sold, bought, in.ChargedBeforeIn, in.TakenBeforeIn, in.Amount, cur)
	if err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: chargeback %s: %w", e.ID, in.ChargebackID, err)
	}
	return amount, nil
}

// chargebackConversion books the captured currency's side of a chargeback
// in it: the PSP took in.Amount from cash:psp:<X>, which the funding's
// conversion had moved to fx:<X>; the escrow's currency (amount) went to
// fx:<CUR> in the entries before.
//
//	chargeback.conversion  debit fx:<X>  credit cash:psp:<X>
//
// A won chargeback reverses it with the others (its id is among the
// chargeback's entries).
func (s *Service) chargebackConversion(ctx context.Context, tx pgx.Tx, e Escrow, in ChargebackInput, amount decimal.Decimal, now time.Time) (uuid.UUID, error) {
	clearing, err := fx.Clearing(ctx, tx, e.TenantID, in.Currency, now)
	if err != nil {
		return uuid.Nil, err
	}
	cash, err := s.account(ctx, tx, e.TenantID, "cash:psp:"+in.Currency, in.Currency, ledger.KindAsset, HotShards, now)
	if err != nil {
		return uuid.Nil, err
	}
	en, err := ledger.Post(ctx, tx, ledger.Entry{TenantID: e.TenantID, Kind: "chargeback.conversion", Reference: "chargeback:" + in.ChargebackID.String() + ":conversion",
		Description: fmt.Sprintf("chargeback of %s %s (%s %s) of order %s", fmtAmount(in.Amount, in.Currency), in.Currency, fmtAmount(amount, e.Currency), e.Currency, e.OrderRef),
		EffectiveAt: now, CreatedAt: now,
		Metadata: map[string]string{"escrow_id": e.ID.String(), "chargeback_id": in.ChargebackID.String(), "psp_ref": in.PSPRef,
			"escrow_amount": fmtAmount(amount, e.Currency), "escrow_currency": e.Currency},
		Postings: []ledger.Posting{
			{AccountID: clearing.ID, Direction: ledger.SideDebit, Amount: in.Amount, Currency: in.Currency},
			{AccountID: cash.ID, Direction: ledger.SideCredit, Amount: in.Amount, Currency: in.Currency},
		}})
	if err != nil {
		return uuid.Nil, fmt.Errorf("escrow %s: chargeback conversion: %w", e.ID, err)
	}
	return en.ID, nil
}
