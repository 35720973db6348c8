package loadgen

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

// Invariant check limits: escrows listed (pages of CheckPageSize) and
// single account balances read when a trial balance is cut short.
const (
	CheckPageSize      = 500
	MaxCheckedEscrows  = 2_000_000
	MaxBalanceReads    = 200_000
	maxListedMismatch  = 5 // mismatching escrows named in a check's detail
	escrowAccountStart = "escrow:"
)

// Check is one invariant and whether it held.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type trialBalance struct {
	Data []struct {
		Currency    string `json:"currency"`
		DebitTotal  string `json:"debit_total"`
		CreditTotal string `json:"credit_total"`
		Balanced    bool   `json:"balanced"`
		Truncated   bool   `json:"truncated"`
		Accounts    []struct {
			Code    string `json:"code"`
			Balance string `json:"balance"`
		} `json:"accounts"`
	} `json:"data"`
}

type listedEscrow struct {
	ID              string `json:"id"`
	State           string `json:"state"`
	Currency        string `json:"currency"`
	FundedAmount    string `json:"funded_amount"`
	HeldAmount      string `json:"held_amount"`
	ReleasedAmount  string `json:"released_amount"`
	RefundedAmount  string `json:"refunded_amount"`
	PendingAmount   string `json:"pending_amount"`
	LedgerAccountID string `json:"ledger_account_id"`
}

// CheckInvariants checks, through the API (finance role), after a run:
// the trial balance balances in every currency; every escrow holds what
// it was funded less what was released, refunded and is pending; the
// escrow accounts' balances add up to the escrows' held and pending money
// per currency; and no call was answered 5xx (fiveXX, counted by the run).
func CheckInvariants(ctx context.Context, c *Client, fiveXX int) []Check {
	var out []Check
	tb, tbErr := fetchTrialBalance(ctx, c, "")
	out = append(out, checkTrialBalance(tb, tbErr))
	held, list := checkEscrows(ctx, c)
	out = append(out, list)
	if tbErr == nil && list.OK {
		out = append(out, checkLiability(ctx, c, tb, held))
	} else {
		out = append(out, Check{Name: "escrow liability = Σ held + pending, per currency", Detail: "not checked: the checks above could not read their data"})
	}
	out = append(out, Check{Name: "no 5xx answers", OK: fiveXX == 0, Detail: fmt.Sprintf("%d answers with status 5xx", fiveXX)})
	return out
}

// Failed reports whether any check failed.
func Failed(cs []Check) bool {
	return slices.ContainsFunc(cs, func(c Check) bool { return !c.OK })
}

func fetchTrialBalance(ctx context.Context, c *Client, currency string) (trialBalance, error) {
	var tb trialBalance
	path := "/v1/ledger/trial-balance"
	if currency != "" {
		path += "?currency=" + url.QueryEscape(currency)
	}
	err := c.Do(ctx, OpCheckTB, RoleFinance, http.MethodGet, path, nil, &tb)
	return tb, err
}

func checkTrialBalance(tb trialBalance, err error) Check {
	ck := Check{Name: "trial balance balanced, per currency"}
	if err != nil {
		ck.Detail = err.Error()
		return ck
	}
	var bad, good []string
	for _, c := range tb.Data {
		if c.Balanced && c.DebitTotal == c.CreditTotal {
			good = append(good, fmt.Sprintf("%s %s", c.Currency, c.DebitTotal))
		} else {
			bad = append(bad, fmt.Sprintf("%s debit %s ≠ credit %s", c.Currency, c.DebitTotal, c.CreditTotal))
		}
	}
	ck.OK = len(bad) == 0 && len(tb.Data) > 0
	switch {
	case len(tb.Data) == 0:
		ck.Detail = "the trial balance lists no currency"
	case ck.OK:
		ck.Detail = "debits = credits: " + strings.Join(good, ", ")
	default:
		ck.Detail = strings.Join(bad, "; ")
	}
	return ck
}

// heldByCurrency is Σ held + pending per currency, and every escrow's
// ledger account, for the liability check.
type heldByCurrency struct {
	sum      map[string]decimal.Decimal
	accounts map[string][]string // currency → escrow ledger account ids
	count    int
}

func checkEscrows(ctx context.Context, c *Client) (heldByCurrency, Check) {
	ck := Check{Name: "every escrow: held = funded − released − refunded − pending"}
	h := heldByCurrency{sum: map[string]decimal.Decimal{}, accounts: map[string][]string{}}
	var bad []string
	nbad := 0
	cursor := ""
	for h.count < MaxCheckedEscrows {
		var page struct {
			Data       []listedEscrow `json:"data"`
			NextCursor string         `json:"next_cursor"`
		}
		path := fmt.Sprintf("/v1/escrows?limit=%d", CheckPageSize)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := c.Do(ctx, OpCheckList, RoleFinance, http.MethodGet, path, nil, &page); err != nil {
			ck.Detail = err.Error()
			return h, ck
		}
		for _, e := range page.Data {
			h.count++
			cur, err := money.Lookup(e.Currency)
			if err != nil {
				ck.Detail = fmt.Sprintf("escrow %s: %v", e.ID, err)
				return h, ck
			}
			v, err := parseAll(cur, e.FundedAmount, e.HeldAmount, e.ReleasedAmount, e.RefundedAmount, e.PendingAmount)
			if err != nil {
				ck.Detail = fmt.Sprintf("escrow %s: %v", e.ID, err)
				return h, ck
			}
			funded, held, released, refunded, pending := v[0], v[1], v[2], v[3], v[4]
			if want := funded.Sub(released).Sub(refunded).Sub(pending); !held.Equal(want) || held.IsNegative() || pending.IsNegative() {
				if nbad++; nbad <= maxListedMismatch {
					bad = append(bad, fmt.Sprintf("%s (%s): held %s, funded − released − refunded − pending = %s", e.ID, e.State, e.HeldAmount, money.Format(want, cur)))
				}
			}
			h.sum[e.Currency] = h.sum[e.Currency].Add(held).Add(pending)
			h.accounts[e.Currency] = append(h.accounts[e.Currency], e.LedgerAccountID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if cursor != "" {
		ck.Detail = fmt.Sprintf("more than %d escrows: not all checked", MaxCheckedEscrows)
		return h, ck
	}
	ck.OK = nbad == 0
	if ck.OK {
		ck.Detail = fmt.Sprintf("%d escrows checked", h.count)
	} else {
		ck.Detail = fmt.Sprintf("%d of %d escrows do not add up: %s", nbad, h.count, strings.Join(bad, "; "))
	}
	return h, ck
}

func parseAll(cur money.Currency, ss ...string) ([]decimal.Decimal, error) {
	out := make([]decimal.Decimal, len(ss))
	for i, s := range ss {
		d, err := money.ParseSignedAmount(s, cur)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// checkLiability compares, per currency, the escrow:* accounts' posted
// balances with Σ held + pending over the escrows. A currency whose trial
// balance lines were cut short (ledger.MaxTrialBalanceLines) is read again
// alone, and if still cut, account by account.
func checkLiability(ctx context.Context, c *Client, tb trialBalance, held heldByCurrency) Check {
	ck := Check{Name: "escrow liability = Σ held + pending, per currency"}
	ledgerSum := map[string]decimal.Decimal{}
	currencies := map[string]bool{}
	for cur := range held.sum {
		currencies[cur] = true
	}
	reads := 0
	for _, tc := range tb.Data {
		currencies[tc.Currency] = true
		lines := tc
		if tc.Truncated {
			one, err := fetchTrialBalance(ctx, c, tc.Currency)
			if err != nil {
				ck.Detail = err.Error()
				return ck
			}
			if len(one.Data) != 1 {
				ck.Detail = "trial balance of " + tc.Currency + ": no data"
				return ck
			}
			lines = one.Data[0]
		}
		cur, err := money.Lookup(tc.Currency)
		if err != nil {
			ck.Detail = err.Error()
			return ck
		}
		if lines.Truncated {
			sum, n, err := sumBalances(ctx, c, cur, held.accounts[tc.Currency], MaxBalanceReads-reads)
			reads += n
			if err != nil {
				ck.Detail = err.Error()
				return ck
			}
			ledgerSum[tc.Currency] = sum
			continue
		}
		sum := decimal.Zero
		for _, a := range lines.Accounts {
			if strings.HasPrefix(a.Code, escrowAccountStart) {
				b, err := money.ParseSignedAmount(a.Balance, cur)
				if err != nil {
					ck.Detail = fmt.Sprintf("account %s: %v", a.Code, err)
					return ck
				}
				sum = sum.Add(b)
			}
		}
		ledgerSum[tc.Currency] = sum
	}
	var parts, bad []string
	for _, code := range slices.Sorted(maps.Keys(currencies)) {
		cur, _ := money.Lookup(code)
		l, e := ledgerSum[code], held.sum[code]
		if l.Equal(e) {
			parts = append(parts, fmt.Sprintf("%s %s", code, money.Format(l, cur)))
		} else {
			bad = append(bad, fmt.Sprintf("%s: escrow accounts %s, escrows held + pending %s", code, money.Format(l, cur), money.Format(e, cur)))
		}
	}
	ck.OK = len(bad) == 0
	if ck.OK {
		ck.Detail = strings.Join(parts, ", ")
	} else {
		ck.Detail = strings.Join(bad, "; ")
	}
	return ck
}

// sumBalances adds the posted balances of the accounts, one read each.
func sumBalances(ctx context.Context, c *Client, cur money.Currency, ids []string, budget int) (decimal.Decimal, int, error) {
	if len(ids) > budget {
		return decimal.Zero, 0, fmt.Errorf("%s: %d escrow accounts to read one by one, more than the %d allowed", cur.Code, len(ids), MaxBalanceReads)
	}
	sum := decimal.Zero
	for _, id := range ids {
		var b struct {
			Posted string `json:"posted"`
		}
		if err := c.Do(ctx, OpCheckBal, RoleFinance, http.MethodGet, "/v1/ledger/accounts/"+url.PathEscape(id)+"/balance", nil, &b); err != nil {
			return decimal.Zero, 0, err
		}
		d, err := money.ParseSignedAmount(b.Posted, cur)
		if err != nil {
			return decimal.Zero, 0, err
		}
		sum = sum.Add(d)
	}
	return sum, len(ids), nil
}
