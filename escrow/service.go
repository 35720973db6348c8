package escrow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

// Job kinds.
const (
	JobExpire      = "escrow.expire"
	JobAutoRelease = "escrow.auto_release"
	// JobConfirmationTimeout voids a release still awaiting the buyer's
	// step-up confirmation after ConfirmationTimeout.
	JobConfirmationTimeout = "escrow.confirmation_timeout"
)

// ConfirmationTimeout is how long a release waits for the buyer's step-up
// confirmation before it is voided and the money is held again.
const ConfirmationTimeout = 24 * time.Hour

// Balance shards (see "Ledger: hot accounts" in docs/architecture.md). Under
// SERIALIZABLE two transactions updating the same balance row cannot both
// commit, so accounts many payouts touch at once get more rows.
const (
	// HotShards: the platform-wide cash and fee accounts every escrow
	// touches; more shards than the pool has sessions, so concurrent
	// sessions land on distinct rows.
	HotShards = 64
	// PartyShards: seller payable and buyer refund accounts (a few sellers
	// take a large share of the orders).
	PartyShards = 8
)

// Service runs escrow actions. Each exported method that changes state is
// one db.Write: the state change, its ledger entries, its risk decision,
// its events and jobs commit together.
type Service struct {
	DB    *db.DB
	Clock clock.Clock
	Gate  *risk.Gate
	Log   *slog.Logger
}

// Create opens an escrow for an order.
func (s *Service) Create(ctx context.Context, tenant uuid.UUID, req CreateRequest) (Escrow, error) {
	c, err := req.Validate()
	if err != nil {
		return Escrow{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Escrow, error) {
		now := s.Clock.Now()
		id := uuid.New()
		acct, err := ledger.EnsureAccount(ctx, tx, ledger.AccountSpec{TenantID: tenant, Code: AccountCode(id), Currency: c.currency.Code,
			Kind: ledger.KindLiability, NoOverdraft: true, Metadata: map[string]string{"escrow_id": id.String(), "order_ref": c.orderRef}}, now)
		if err != nil {
			return Escrow{}, fmt.Errorf("escrow: account: %w", err)
		}
		policy, err := policyFor(ctx, tx, tenant)
		if err != nil {
			return Escrow{}, err
		}
		e := Escrow{
			ID: id, TenantID: tenant, OrderRef: c.orderRef, State: AwaitingFunding, Buyer: c.buyer, Seller: c.seller,
			Currency: c.currency.Code, Amount: c.amount, FeeTotal: c.feeTotal, BuyerFee: c.buyerFee,
			Funded: decimal.Zero, Released: decimal.Zero, Refunded: decimal.Zero, Pending: decimal.Zero, FeeCollect: decimal.Zero,
			Milestones: c.milestones, Terms: c.terms, Fees: c.fees, Policy: policy, RiskContext: c.riskContext, Metadata: c.metadata,
			AccountID: acct.ID, Version: 1, CreatedAt: now, UpdatedAt: now,
			FundingDeadlineAt: now.Add(time.Duration(c.terms.FundingDeadlineHours) * time.Hour),
		}
		for i := range e.Milestones {
			e.Milestones[i].Released, e.Milestones[i].Refunded, e.Milestones[i].Pending = decimal.Zero, decimal.Zero, decimal.Zero
		}
		if err := insertEscrow(ctx, tx, e); err != nil {
			return Escrow{}, err
		}
		if err := jobs.Schedule(ctx, tx, jobs.Job{TenantID: tenant, Kind: JobExpire, DedupeKey: id.String(), RunAt: e.FundingDeadlineAt,
			Payload: jobPayload(tenant, id)}, now); err != nil {
			return Escrow{}, err
		}
		if err := s.observe(ctx, tx, e, now); err != nil {
			return Escrow{}, err
		}
		return e, emit(ctx, tx, e, "escrow.created", nil, now)
	})
}

// Get returns an escrow of tenant.
func (s *Service) Get(ctx context.Context, tenant, id uuid.UUID) (Escrow, error) {
	return load(ctx, s.DB.Pool, tenant, id, false)
}

// Fund records money captured by the marketplace's PSP. In the escrow's
// currency it is booked cash → escrow; in another currency the FX quote is
// consumed and the conversion booked through the FX clearing accounts.
// Partial fundings accumulate; the escrow is funded once fully funded.
// At or after its funding deadline an escrow is expired (issue 5), so
// funding is refused as in an expired escrow, before the expiry job has
// recorded it too: the job runs some time after the deadline, and the
// money must not be booked into an escrow it will then expire (partial
// funding, refunded at once) or leave alone (full funding).
func (s *Service) Fund(ctx context.Context, tenant, id uuid.UUID, ifMatch int64, req FundRequest) (Escrow, error) {
	c, err := req.Validate()
	if err != nil {
		return Escrow{}, err
	}
	return act(ctx, s, tenant, id, ifMatch, ActFund, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		if !now.Before(e.FundingDeadlineAt) { // before any quote is consumed
			return fmt.Errorf("escrow %s: funding deadline passed at %s: %w", e.ID, e.FundingDeadlineAt.Format(time.RFC3339),
				&InvalidStateError{State: Expired, Action: ActFund})
		}
		if e.Pending.IsPositive() { // a cancellation's refund is waiting for the gate
			return fmt.Errorf("escrow %s: fund: %w", e.ID, ErrPayoutsPending)
		}
		remaining := e.FundingTarget().Sub(e.Funded)
		credited := c.amount
		var quote *fx.Quote
		if c.currency.Code != e.Currency {
			if c.quoteID == uuid.Nil {
				return fmt.Errorf("escrow %s: fund in %s: %w", e.ID, c.currency.Code, ErrCurrencyNeedsQuote)
			}
			q, err := fx.Consume(ctx, tx, tenant, c.quoteID, fx.ConsumeRequest{SellCurrency: c.currency.Code, BuyCurrency: e.Currency,
				SellAmount: &c.amount, UsedBy: "escrow:" + e.ID.String()}, now)
			if err != nil {
				return fmt.Errorf("escrow %s: fund: %w", e.ID, err)
			}
			quote, credited = &q, q.BuyAmount
		} else if c.quoteID != uuid.Nil {
			return fmt.Errorf("escrow %s: fund: %w", e.ID, fx.ErrQuoteMismatch)
		}
		if credited.GreaterThan(remaining) {
			return valid.FieldCode(codeAmountMismatch, "amount", fmt.Sprintf("funding %s %s exceeds the %s %s still due",
				fmtAmount(credited, e.Currency), e.Currency, fmtAmount(remaining, e.Currency), e.Currency))
		}
		cash, err := s.account(ctx, tx, tenant, "cash:psp:"+c.currency.Code, c.currency.Code, ledger.KindAsset, HotShards, now)
		if err != nil {
			return err
		}
		ref := "escrow:" + e.ID.String() + ":fund:" + c.paymentRef
		var entryID uuid.UUID
		if quote != nil {
			conv, err := fx.Convert(ctx, tx, *quote, cash.ID, e.AccountID, ref, now)
			if err != nil {
				return fundError(e.ID, c.paymentRef, err)
			}
			entryID = conv.Entry.ID
		} else {
			posted, err := ledger.Post(ctx, tx, ledger.Entry{TenantID: tenant, Kind: "escrow.fund", Reference: ref,
				Description: "funding of order " + e.OrderRef, EffectiveAt: now, CreatedAt: now,
				Metadata: map[string]string{"escrow_id": e.ID.String(), "payment_ref": c.paymentRef},
				Postings: []ledger.Posting{
					{AccountID: cash.ID, Direction: ledger.SideDebit, Amount: c.amount, Currency: e.Currency},
					{AccountID: e.AccountID, Direction: ledger.SideCredit, Amount: c.amount, Currency: e.Currency},
				}})
			if err != nil {
				return fundError(e.ID, c.paymentRef, err)
			}
			entryID = posted.ID
		}
		// A payment reference funds once per tenant; a reused one rolls the
		// whole transaction back, the entry above included.
		tag, err := tx.Exec(ctx, `
			INSERT INTO escrow_fundings (id, tenant_id, escrow_id, payment_ref, amount, currency, credited, fx_quote_id, entry_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant_id, payment_ref) DO NOTHING`,
			uuid.New(), tenant, e.ID, c.paymentRef, c.amount, c.currency.Code, credited, quoteIDOrNil(quote), entryID, now)
		if err != nil {
			return fmt.Errorf("escrow %s: funding: %w", e.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("escrow %s: payment_ref %q: %w", e.ID, c.paymentRef, ErrDuplicatePayment)
		}
		e.Funded = e.Funded.Add(credited)
		extra := map[string]any{"payment_ref": c.paymentRef, "credited": fmtAmount(credited, e.Currency)}
		if !e.Funded.Equal(e.FundingTarget()) {
			e.State = AwaitingFunding // partial: stays
			e.announce("escrow.funding_received", extra)
			return nil
		}
		// The expiry job is left to find the escrow funded (HandleExpire):
		// cancelling it would read and rewrite a jobs row, and under SSI
		// that conflicts with every job scheduled into the same index page.
		e.FundedAt = &now
		e.announce("escrow.funded", extra)
		return nil
	}, same)
}

// fundError words a funding's ledger error: the same payment reference on
// the same escrow is a duplicate entry reference to the ledger.
func fundError(id uuid.UUID, paymentRef string, err error) error {
	if errors.Is(err, ledger.ErrDuplicateReference) {
		return fmt.Errorf("escrow %s: payment_ref %q: %w", id, paymentRef, ErrDuplicatePayment)
	}
	return fmt.Errorf("escrow %s: fund: %w", id, err)
}

func quoteIDOrNil(q *fx.Quote) *uuid.UUID {
	if q == nil {
		return nil
	}
	return &q.ID
}

// Ship records the shipment.
func (s *Service) Ship(ctx context.Context, tenant, id uuid.UUID, ifMatch int64, req ShipRequest) (Escrow, error) {
	sh, err := req.Validate()
	if err != nil {
		return Escrow{}, err
	}
	return act(ctx, s, tenant, id, ifMatch, ActShip, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		e.Shipment, e.ShippedAt = &sh, &now
		e.announce("escrow.shipped", map[string]any{"carrier": sh.Carrier, "tracking_number": sh.TrackingNumber})
		return nil
	}, same)
}

// Deliver records delivery and starts the inspection window; when it ends
// with no dispute and no acceptance, a job releases what is held.
func (s *Service) Deliver(ctx context.Context, tenant, id uuid.UUID, ifMatch int64, req DeliverRequest) (Escrow, error) {
	return act(ctx, s, tenant, id, ifMatch, ActDeliver, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		at := now
		if req.DeliveredAt != nil {
			at = req.DeliveredAt.UTC()
			if at.After(now) || (e.ShippedAt != nil && at.Before(*e.ShippedAt)) {
				return valid.Field("delivered_at", "must lie between shipping and now")
			}
		}
		ends := at.Add(time.Duration(e.Terms.InspectionHours) * time.Hour)
		e.DeliveredAt, e.InspectionEndsAt = &at, &ends
		if e.Terms.AutoRelease {
			if err := jobs.Schedule(ctx, tx, jobs.Job{TenantID: tenant, Kind: JobAutoRelease, DedupeKey: e.ID.String(), RunAt: ends,
				Payload: jobPayload(tenant, e.ID)}, now); err != nil {
				return err
			}
		}
		e.announce("escrow.delivered", map[string]any{"delivered_at": at, "inspection_ends_at": ends})
		return nil
	}, same)
}

// act runs one action on an escrow in one transaction: lock it, check
// If-Match, the transition table and a waiting closing refund
// (heldByClosing), run do, move to the table's next state (do may
// override), settle, save, and answer build(escrow) — the value the
// transaction returns, so the API's finisher sees the whole result.
func act[R any](ctx context.Context, s *Service, tenant, id uuid.UUID, ifMatch int64, a Action,
	do func(tx pgx.Tx, e *Escrow, now time.Time) error, build func(Escrow) R) (R, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (R, error) {
		var zero R
		now := s.Clock.Now()
		e, err := load(ctx, tx, tenant, id, true)
		if err != nil {
			return zero, err
		}
		if ifMatch != 0 && ifMatch != e.Version {
			return zero, fmt.Errorf("escrow %s is at version %d, not %d: %w", e.ID, e.Version, ifMatch, ErrVersionMismatch)
		}
		to, err := next(e.State, a)
		if err != nil {
			return zero, fmt.Errorf("escrow %s: %w", e.ID, err)
		}
		if heldByClosing[a] {
			if err := refuseWhileClosing(ctx, tx, e, a); err != nil {
				return zero, err
			}
		}
		from := e.State
		e.State = to
		if err := do(tx, &e, now); err != nil {
			return zero, err
		}
		if (e.State == from && isMoneyAction(a)) || a == ActAccept || a == ActAutoRelease {
			if err := s.settle(ctx, tx, &e, now); err != nil {
				return zero, err
			}
		}
		if err := save(ctx, tx, &e, now); err != nil {
			return zero, err
		}
		return build(e), nil
	})
}

// same is the build of actions that answer with the escrow itself.
func same(e Escrow) Escrow { return e }

func isMoneyAction(a Action) bool {
	return a == ActRelease || a == ActRefund || a == ActResolve
}

// account ensures a platform or party account of the tenant.
func (s *Service) account(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, code, currency string, kind ledger.Kind, shards int, now time.Time) (ledger.Account, error) {
	a, err := ledger.EnsureAccount(ctx, tx, ledger.AccountSpec{TenantID: tenant, Code: code, Currency: currency, Kind: kind, Shards: shards}, now)
	if err != nil {
		return ledger.Account{}, fmt.Errorf("account %s: %w", code, err)
	}
	return a, nil
}

// announcement is an event an action announced, written by save.
type announcement struct {
	typ   string
	extra map[string]any
}

// announce queues an event of the action in progress; save writes the
// queue in order, each event carrying the escrow as the action leaves it
// (a release that completes the escrow says completed). A refund that
// closes the escrow announces escrow.refunded once: settle does not add
// the state's own escrow.refunded to the refund's (see announced).
func (e *Escrow) announce(typ string, extra map[string]any) {
	e.news = append(e.news, announcement{typ: typ, extra: extra})
}

// announced reports whether the action in progress announced typ.
func (e *Escrow) announced(typ string) bool {
	return slices.ContainsFunc(e.news, func(a announcement) bool { return a.typ == typ })
}

// writeNews writes the announced events (save calls it) and empties the
// queue. An action announces one event per payout it voids (voidPending),
// however many; db.Send bounds what it holds back.
func writeNews(ctx context.Context, tx pgx.Tx, e *Escrow, now time.Time) error {
	for _, a := range e.news {
		if err := emit(ctx, tx, *e, a.typ, a.extra, now); err != nil {
			return err
		}
	}
	e.news = nil
	return nil
}

// emit writes an escrow event now; its subject is the escrow, so the
// timeline finds it. Actions that save the escrow announce instead.
func emit(ctx context.Context, tx pgx.Tx, e Escrow, typ string, extra map[string]any, now time.Time) error {
	cur, _ := money.Lookup(e.Currency)
	p := map[string]any{
		"escrow_id": e.ID, "order_ref": e.OrderRef, "state": e.State, "currency": e.Currency,
		"amount": money.Format(e.Amount, cur), "funded_amount": money.Format(e.Funded, cur), "held_amount": money.Format(e.Held(), cur),
		"released_amount": money.Format(e.Released, cur), "refunded_amount": money.Format(e.Refunded, cur), "pending_amount": money.Format(e.Pending, cur),
	}
	for k, v := range extra {
		p[k] = v
	}
	_, err := outbox.Emit(ctx, tx, e.TenantID, typ, e.ID.String(), p, now)
	return err
}

func fmtAmount(d decimal.Decimal, currency string) string {
	cur, err := money.Lookup(currency)
	if err != nil {
		return d.String()
	}
	return money.Format(d, cur)
}

// observe tells the risk gate about the new escrow (history, velocity) and
// screens both parties against the tenant's sanctions list: a match or a
// possible match opens a review; the gate blocks every later payout of the
// escrow on a match and sends it to review on a possible match.
func (s *Service) observe(ctx context.Context, tx pgx.Tx, e Escrow, now time.Time) error {
	if err := s.Gate.Observe(ctx, tx, risk.Observation{TenantID: e.TenantID, EscrowID: e.ID, BuyerID: e.Buyer.ID, SellerID: e.Seller.ID,
		DeviceID: e.RiskContext["device_id"], IP: e.RiskContext["ip"], Amount: e.Amount, Currency: e.Currency, At: now}); err != nil {
		return err
	}
	_, err := s.Gate.ScreenParties(ctx, tx, e.TenantID, e.ID, riskParty(e.Buyer), riskParty(e.Seller), now)
	return err
}
