package db

import (
	"context"
	"sync"
	"time"
)

// SerialAfter is the number of failed attempts after which a transaction on
// PostgreSQL runs alone in this process (see serialGate); SerialDrainWait
// bounds how long it waits for the transactions already running to end.
const (
	SerialAfter     = 4
	SerialDrainWait = 2 * time.Second
)

// serialGate gives a transaction that keeps failing to serialize a turn of
// its own. PostgreSQL's SSI aborts one of the transactions of a dangerous
// structure, and a long transaction (a dispute resolution: two payouts,
// their ledger entries and risk decisions) overlaps many short ones, so
// under load it can lose every time until its attempts run out. After
// SerialAfter failures the transaction closes the gate: transactions not yet
// begun wait, the ones running finish (at most SerialDrainWait), and it runs
// alone; then the gate opens. Only this process's transactions wait, so it
// bounds starvation on one node; across nodes the retries and their backoff
// remain. (CockroachDB raises a retried transaction's priority itself, so
// the gate is used on PostgreSQL only.)
//
// A transaction must not run inside another one's function (escrowd does
// not): while the outer one runs alone, the inner one would wait for the
// gate until its context ends. A transaction waiting to run alone behind
// another one waits for it (each runs alone for one attempt) until its
// context ends.
type serialGate struct {
	once  sync.Once
	alone chan struct{} // holds a token while one transaction runs (or drains to run) alone; see turn

	mu       sync.Mutex
	inflight int           // transactions running through the gate
	closed   chan struct{} // set while one runs (or waits to run) alone; closed when it ends
	drained  chan struct{} // closed when inflight drops to 0 while closed is set
}

// enter waits until the gate is open and counts a transaction in.
func (g *serialGate) enter(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.closed == nil {
			g.inflight++
			g.mu.Unlock()
			return nil
		}
		c := g.closed
		g.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leave counts a transaction out.
func (g *serialGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflight == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
}

// turn is the one-token channel of the turn alone.
func (g *serialGate) turn() chan struct{} {
	g.once.Do(func() { g.alone = make(chan struct{}, 1) })
	return g.alone
}

// enterAlone waits for its turn alone (or for ctx), closes the gate, waits
// for the running transactions to end (at most SerialDrainWait) and
// returns the function that opens it again.
func (g *serialGate) enterAlone(ctx context.Context) (open func(), err error) {
	select {
	case g.turn() <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	g.closed = make(chan struct{})
	var drained chan struct{}
	if g.inflight > 0 {
		g.drained = make(chan struct{})
		drained = g.drained
	}
	g.mu.Unlock()
	open = func() {
		g.mu.Lock()
		close(g.closed)
		g.closed, g.drained = nil, nil
		g.mu.Unlock()
		<-g.turn()
	}
	if drained != nil {
		t := time.NewTimer(SerialDrainWait)
		defer t.Stop()
		select {
		case <-drained:
		case <-t.C:
		case <-ctx.Done():
			open()
			return nil, ctx.Err()
		}
	}
	return open, nil
}
