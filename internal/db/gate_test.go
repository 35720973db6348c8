package db

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestSerialGate: a transaction running alone waits for the running ones
// to leave, and no other enters until it opens the gate again.
func TestSerialGate(t *testing.T) {
	ctx := context.Background()
	var g serialGate
	if err := g.enter(ctx); err != nil {
		t.Fatal(err)
	}
	var alone, others atomic.Int32
	others.Add(1)
	aloneRunning := make(chan struct{})
	go func() {
		open, err := g.enterAlone(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if n := others.Load(); n != 0 {
			t.Errorf("running alone with %d others", n)
		}
		alone.Store(1)
		close(aloneRunning)
		time.Sleep(20 * time.Millisecond)
		alone.Store(0)
		open()
	}()
	// The gate is closed once the alone transaction waits: a newcomer must
	// wait for it to finish, not run beside it.
	time.Sleep(10 * time.Millisecond)
	entered := make(chan struct{})
	go func() {
		if err := g.enter(ctx); err != nil {
			t.Error(err)
			return
		}
		if alone.Load() != 0 {
			t.Error("entered while a transaction ran alone")
		}
		g.leave()
		close(entered)
	}()
	select {
	case <-aloneRunning:
		t.Fatal("ran alone before the running transaction left")
	case <-entered:
		t.Fatal("entered a closed gate")
	case <-time.After(30 * time.Millisecond):
	}
	others.Add(-1)
	g.leave()
	<-aloneRunning
	<-entered
}

// TestSerialGateDrainBound: a running transaction that never leaves delays
// the alone one by SerialDrainWait at most; a cancelled context ends the
// wait and reopens the gate.
func TestSerialGateDrainBound(t *testing.T) {
	var g serialGate
	if err := g.enter(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.enterAlone(ctx); err == nil {
		t.Fatal("enterAlone returned before the drain with a cancelled context")
	}
	// The gate is open again.
	done := make(chan error, 1)
	go func() { done <- g.enter(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("gate stayed closed after a cancelled enterAlone")
	}
	start := time.Now()
	open, err := g.enterAlone(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	open()
	if waited := time.Since(start); waited < SerialDrainWait/2 {
		t.Errorf("enterAlone returned after %v with transactions still running; want about %v", waited, SerialDrainWait)
	}
}

// TestSerialGateTurnHonoursContext: a transaction waiting for its turn
// alone behind another one stops waiting when its context ends (the
// request was cancelled), and takes the turn once the other one is done.
func TestSerialGateTurnHonoursContext(t *testing.T) {
	var g serialGate
	open, err := g.enterAlone(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() {
		_, err := g.enterAlone(ctx)
		waited <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("took the turn while another held it (err %v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-waited:
		if err != context.Canceled {
			t.Fatalf("cancelled wait returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait for the turn alone did not return")
	}
	open()
	next, err := g.enterAlone(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	next()
}
