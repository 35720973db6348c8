package escrow

import (
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

// feeParts splits the fee of a payout of order money x: the buyer's and the
// seller's parts, prorated from the escrow's totals and rounded half-even to
// the currency's minor unit. The payout that settles the last order money
// takes exactly what is left of each part, so the parts always add up to
// the totals: no fraction of a unit is created or lost.
//
// open is the order money still open before this payout; buyerDone and
// sellerDone are the parts already taken by earlier payouts.
func feeParts(e Escrow, x, open, buyerDone, sellerDone decimal.Decimal) (buyer, seller decimal.Decimal) {
	cur, _ := money.Lookup(e.Currency)
	buyerLeft := e.BuyerFee.Sub(buyerDone)
	sellerLeft := e.FeeTotal.Sub(e.BuyerFee).Sub(sellerDone)
	if x.Equal(open) {
		return buyerLeft, sellerLeft
	}
	share := func(total, left decimal.Decimal) decimal.Decimal {
		p := money.Round(total.Mul(x).DivRound(e.Amount, 24), cur)
		return decimal.Min(p, left)
	}
	return share(e.BuyerFee, buyerLeft), share(e.FeeTotal.Sub(e.BuyerFee), sellerLeft)
}
