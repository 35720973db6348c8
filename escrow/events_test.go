package escrow_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/escrowd/escrowd/escrow"
)

// event is an escrow event as a webhook consumer sees it.
type event struct {
	typ, state, amount string
}

// events lists an escrow's events in order (ids are time-ordered).
func (f *fixture) events(e escrow.Escrow) []event {
	f.t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT type, payload FROM events WHERE tenant_id = $1 AND subject_id = $2 ORDER BY id`,
		f.tenant, e.ID.String())
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var typ string
		var body []byte
		if err := rows.Scan(&typ, &body); err != nil {
			f.t.Fatal(err)
		}
		var p struct {
			State  string `json:"state"`
			Amount string `json:"amount"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, event{typ, p.State, p.Amount})
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// TestEventsOnceWithFinalState: each action announces each thing once, in
// order, and every event of an action carries the escrow as the action
// left it. The refund that closes an escrow is one escrow.refunded (it used
// to be two: the refund's and the state's, with different amounts), and it
// says refunded.
func TestEventsOnceWithFinalState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(e escrow.Escrow) escrow.Escrow
		want []event // after escrow.created and escrow.funded
	}{
		{"full refund", func(e escrow.Escrow) escrow.Escrow {
			r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "100.00", Reason: "never shipped"})
			if err != nil {
				t.Fatal(err)
			}
			return r.Escrow
		}, []event{{"refund.completed", "refunded", "100.00"}, {"escrow.refunded", "refunded", "100.00"}}},
		{"partial refund, then the rest", func(e escrow.Escrow) escrow.Escrow {
			if _, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "40.00", Reason: "short"}); err != nil {
				t.Fatal(err)
			}
			r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "60.00", Reason: "rest"})
			if err != nil {
				t.Fatal(err)
			}
			return r.Escrow
		}, []event{{"refund.completed", "funded", "40.00"}, {"escrow.refunded", "funded", "40.00"},
			{"refund.completed", "refunded", "60.00"}, {"escrow.refunded", "refunded", "60.00"}}},
		{"release", func(e escrow.Escrow) escrow.Escrow {
			r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return r.Escrow
		}, []event{{"release.completed", "completed", "100.00"}, {"escrow.released", "completed", "100.00"}, {"escrow.completed", "completed", "100.00"}}},
		{"partial refund, then release", func(e escrow.Escrow) escrow.Escrow {
			if _, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "30.00", Reason: "short"}); err != nil {
				t.Fatal(err)
			}
			r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return r.Escrow
		}, []event{{"refund.completed", "funded", "30.00"}, {"escrow.refunded", "funded", "30.00"},
			{"release.completed", "completed", "70.00"}, {"escrow.released", "completed", "70.00"}, {"escrow.completed", "completed", "100.00"}}},
		{"cancel after funding", func(e escrow.Escrow) escrow.Escrow {
			r, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"})
			if err != nil {
				t.Fatal(err)
			}
			return r.Escrow
		}, []event{{"refund.completed", "cancelled", "100.00"}, {"escrow.refunded", "cancelled", "100.00"}, {"escrow.cancelled", "cancelled", "100.00"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := f.fund(f.create("100.00", "USD", nil), "100.00")
			e = c.run(e)
			f.checkInvariants(e)
			want := append([]event{{"escrow.created", "awaiting_funding", "100.00"}, {"escrow.funded", "funded", "100.00"}}, c.want...)
			if got := f.events(e); !slices.Equal(got, want) {
				t.Fatalf("events\n got %v\nwant %v", got, want)
			}
		})
	}
}
