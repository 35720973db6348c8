package outbox_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// receiver is a webhook endpoint that records what it gets and answers
// with status.
type receiver struct {
	mu     sync.Mutex
	status int
	got    []http.Header
	bodies [][]byte
	path   []string
}

// paths returns the paths of the requests so far, in order.
func (rc *receiver) paths() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.path...)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r.Header.Clone())
	rc.bodies = append(rc.bodies, b)
	rc.path = append(rc.path, r.URL.Path)
	w.WriteHeader(rc.status)
}

// loopback lets endpoints be the tests' httptest servers.
var loopback = outbox.Options{AllowPrivate: true}

// fixture is a tenant on a fresh database, with a fake clock.
type fixture struct {
	d      *db.DB
	clk    *clock.Fake
	tenant uuid.UUID
	store  *outbox.Store
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	d := dbtest.New(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tn, err := (&tenants.Store{DB: d, Clock: clk}).CreateTenant(context.Background(), "hooks")
	if err != nil {
		t.Fatal(err)
	}
	// The receivers are httptest servers on loopback.
	return fixture{d: d, clk: clk, tenant: tn.ID, store: &outbox.Store{DB: d, Clock: clk, Options: loopback}}
}

// endpoint registers url for every event type.
func (f fixture) endpoint(t *testing.T, url string) outbox.Endpoint {
	t.Helper()
	ep, err := f.store.CreateEndpoint(context.Background(), f.tenant, url, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// emit commits one escrow.funded event now.
func (f fixture) emit(t *testing.T) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := f.d.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		id, err = outbox.Emit(context.Background(), tx, f.tenant, "escrow.funded", "e1", map[string]string{"amount": "1.00"}, f.clk.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// delivery is a webhook_deliveries row as the deliverer left it.
type delivery struct {
	status     string
	attempts   int
	lastStatus *int
	lastError  string
	next       time.Time
}

// delivery reads the delivery of event.
func (f fixture) delivery(t *testing.T, event uuid.UUID) delivery {
	t.Helper()
	var w delivery
	if err := f.d.Pool.QueryRow(context.Background(), `
		SELECT status, attempts, last_status, last_error, next_attempt_at FROM webhook_deliveries WHERE event_id = $1`, event).
		Scan(&w.status, &w.attempts, &w.lastStatus, &w.lastError, &w.next); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookDeliverySignedRetriedAndFailed(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ts := &tenants.Store{DB: d, Clock: clk}
	tn, err := ts.CreateTenant(ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{status: 200}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	store := &outbox.Store{DB: d, Clock: clk, Options: loopback}
	ep, err := store.CreateEndpoint(ctx, tn.ID, srv.URL+"/hook", []string{"escrow.funded"})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(typ string) uuid.UUID {
		var id uuid.UUID
		if err := d.Tx(ctx, func(tx pgx.Tx) error {
			id, err = outbox.Emit(ctx, tx, tn.ID, typ, "e1", map[string]string{"amount": "10.00"}, clk.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	evID := emit("escrow.funded")
	emit("escrow.shipped") // not subscribed
	dl := &outbox.Deliverer{DB: d, Clock: clk, Client: srv.Client()}
	n, err := dl.RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("delivered %d (err %v), want 1", n, err)
	}
	// Signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "t.body")).
	sig := rc.got[0].Get("Escrowd-Signature")
	parts := strings.Split(sig, ",")
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "t=") || !strings.HasPrefix(parts[1], "v1=") {
		t.Fatalf("signature header %q", sig)
	}
	mac := hmac.New(sha256.New, []byte(ep.Secret))
	mac.Write([]byte(strings.TrimPrefix(parts[0], "t=") + "."))
	mac.Write(rc.bodies[0])
	if want := hex.EncodeToString(mac.Sum(nil)); strings.TrimPrefix(parts[1], "v1=") != want {
		t.Fatalf("signature %s does not verify (want %s)", parts[1], want)
	}
	if !strings.Contains(string(rc.bodies[0]), evID.String()) {
		t.Fatalf("body %s lacks the event id", rc.bodies[0])
	}
	if n, _ := dl.RunOnce(ctx); n != 0 {
		t.Fatalf("delivered again: %d", n)
	}

	// A failing endpoint is retried with backoff until 72 hours, then failed.
	rc.mu.Lock()
	rc.status = 500
	rc.mu.Unlock()
	emit("escrow.funded")
	attempts := 0
	for range 200 {
		n, err := dl.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		attempts += n
		clk.Advance(outbox.RetryDelay(attempts) + time.Second)
	}
	var status string
	var tries int
	if err := d.Pool.QueryRow(ctx, `SELECT status, attempts FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&status, &tries); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || tries < 10 {
		t.Fatalf("failing delivery: status %s after %d attempts, want failed after many", status, tries)
	}
	// Redelivery puts it back in the queue.
	rc.mu.Lock()
	rc.status = 204
	rc.mu.Unlock()
	if _, err := store.Redeliver(ctx, tn.ID, evID); err != nil {
		t.Fatal(err)
	}
	if n, err := dl.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("redelivered %d (err %v)", n, err)
	}
	if _, err := store.Redeliver(ctx, uuid.New(), evID); err == nil {
		t.Fatal("another tenant redelivered the event")
	}
}

// TestWebhookRedirectIsAFailedAttempt: a 3xx is not followed, whatever
// client the deliverer is given. Followed, a 301, 302 or 303 turns the POST
// into a GET without a body, whose 2xx marked an event delivered that never
// arrived, and a 307 or 308 sent the signed event to the host it named.
func TestWebhookRedirectIsAFailedAttempt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	elsewhere := &receiver{status: 200}
	other := httptest.NewServer(elsewhere)
	defer other.Close()
	codes := []int{301, 302, 303, 307, 308}
	for _, code := range codes {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/elsewhere", code)
		}))
		defer srv.Close()
		f.endpoint(t, srv.URL+"/hook/"+strconv.Itoa(code))
	}
	ev := f.emit(t)
	for i, client := range []*http.Client{{Timeout: outbox.DeliveryTimeout}, outbox.NewClient(loopback)} {
		dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: client}
		if n, err := dl.RunOnce(ctx); err != nil || n != len(codes) {
			t.Fatalf("attempted %d (%v)", n, err)
		}
		if got := elsewhere.paths(); len(got) != 0 {
			t.Fatalf("a redirect was followed: %s got %v", other.URL, got)
		}
		rows, err := f.d.Pool.Query(ctx, `
			SELECT ep.url, w.status, w.attempts, w.last_status, w.last_error FROM webhook_deliveries w
			JOIN webhook_endpoints ep ON ep.id = w.endpoint_id WHERE w.event_id = $1`, ev)
		if err != nil {
			t.Fatal(err)
		}
		var url, status, lastErr string
		var attempts, lastStatus int
		if _, err := pgx.ForEachRow(rows, []any{&url, &status, &attempts, &lastStatus, &lastErr}, func() error {
			if status != "pending" || attempts != i+1 || !strings.HasSuffix(url, "/"+strconv.Itoa(lastStatus)) || !strings.Contains(lastErr, "redirects are not followed") {
				t.Errorf("%s after attempt %d: %s, last status %d (%q), want pending with the redirect's status", url, i+1, status, lastStatus, lastErr)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(outbox.RetryDelay(i+1) + time.Second)
	}
}

// TestDeliveryErrorTextIsRecordedWhateverItHolds: an attempt's error can
// quote what the endpoint answered (a redirect's Location, any text). It
// used to be cut at 500 bytes inside a multi-byte character, the database
// refused the outcome, and the delivery was sent again every lease, never
// counted, never failed, ahead of every delivery due after it.
func TestDeliveryErrorTextIsRecordedWhateverItHolds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// `endpoint answered 302 (to "/x` is 29 bytes; 471 more is odd, so
	// byte 500 falls inside an "é".
	loc := "/x" + strings.Repeat("é", 400)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	}))
	defer bad.Close()
	good := &receiver{status: 200}
	goodSrv := httptest.NewServer(good)
	defer goodSrv.Close()
	f.endpoint(t, bad.URL+"/hook")
	ev := f.emit(t) // its delivery to bad is the oldest: first in the batch
	f.clk.Advance(time.Second)
	f.endpoint(t, goodSrv.URL+"/hook")
	f.emit(t)
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: outbox.NewClient(loopback)}
	for round := 1; round <= 3; round++ {
		if n, err := dl.RunOnce(ctx); err != nil || n != 3-min(round-1, 1) {
			t.Fatalf("round %d: attempted %d (%v)", round, n, err)
		}
		f.clk.Advance(outbox.RetryDelay(round) + time.Second)
	}
	w := f.delivery(t, ev)
	if w.attempts != 3 {
		t.Errorf("redirecting endpoint: %d attempts recorded after 3, last error %q", w.attempts, w.lastError)
	}
	if len(w.lastError) > 500 || !strings.HasPrefix(w.lastError, `endpoint answered 302 (to "/x`) {
		t.Errorf("last error of %d bytes: %q", len(w.lastError), w.lastError)
	}
	if len(good.paths()) != 1 {
		t.Errorf("the healthy endpoint got %d deliveries, want 1", len(good.paths()))
	}
}

// TestAnOutcomeNotRecordedLeavesTheRestOfTheBatch: when the outcome of one
// delivery cannot be recorded (here a constraint refuses it), the batch
// goes on: the other deliveries are sent and recorded, and the one whose
// outcome was lost is attempted again once its lease ends. RunOnce used
// to return at the first such failure, leaving the rest of the batch
// claimed and unsent.
func TestAnOutcomeNotRecordedLeavesTheRestOfTheBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dbtest.MustExec(t, f.d, `ALTER TABLE webhook_deliveries ADD CONSTRAINT test_refused CHECK (last_error NOT LIKE '%refused-by-test%')`)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/refused-by-test")
		w.WriteHeader(http.StatusFound)
	}))
	defer bad.Close()
	good := &receiver{status: 200}
	goodSrv := httptest.NewServer(good)
	defer goodSrv.Close()
	f.endpoint(t, bad.URL)
	ev := f.emit(t)
	f.clk.Advance(time.Second)
	f.endpoint(t, goodSrv.URL)
	f.emit(t)
	f.emit(t)
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: outbox.NewClient(loopback)}
	n, err := dl.RunOnce(ctx)
	if n != 5 || err == nil || !strings.Contains(err.Error(), "outcome not recorded") {
		t.Fatalf("attempted %d (%v), want all 5 and the outcomes not recorded", n, err)
	}
	if got := len(good.paths()); got != 2 {
		t.Fatalf("the healthy endpoint got %d deliveries, want 2", got)
	}
	if w := f.delivery(t, ev); w.status != "pending" || w.attempts != 0 {
		t.Fatalf("delivery whose outcome was lost: %+v", w)
	}
	// Claimed until its lease ends, then attempted again.
	if n, err := dl.RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("within the lease: attempted %d (%v), want none", n, err)
	}
	f.clk.Advance(outbox.DeliveryLease + time.Second)
	if n, _ := dl.RunOnce(ctx); n != 3 {
		t.Fatalf("after the lease: attempted %d, want the 3 whose outcomes were lost", n)
	}
}

// TestDeliveryEndingAtShutdownIsRecorded: serve ends the workers' context
// once requests have drained. A delivery the endpoint has just accepted
// then used to lose its outcome (record ran on the ended context) and was
// sent again after its lease; the rest of the batch was attempted on the
// ended context, each failing at once. Now the outcome is recorded and
// the rest is released unattempted.
func TestDeliveryEndingAtShutdownIsRecorded(t *testing.T) {
	f := newFixture(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	f.endpoint(t, srv.URL)
	first := f.emit(t)
	f.clk.Advance(time.Second)
	second := f.emit(t)
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := srv.Client().Transport.RoundTrip(r)
		stop() // SIGTERM lands as the endpoint's answer arrives
		return resp, err
	})}
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: client}
	if n, err := dl.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("attempted %d (%v), want the first delivery only", n, err)
	}
	if w := f.delivery(t, first); w.status != "delivered" || w.attempts != 1 {
		t.Errorf("the delivery accepted at shutdown: %s after %d attempts, want delivered", w.status, w.attempts)
	}
	if w := f.delivery(t, second); w.status != "pending" || w.attempts != 0 {
		t.Errorf("the delivery after it: %s after %d attempts, want pending, unattempted", w.status, w.attempts)
	}
	// Released: the next worker sends it at once.
	if n, err := dl.RunOnce(context.Background()); n != 1 || err != nil || got.Load() != 2 {
		t.Errorf("next run attempted %d (%v); the endpoint got %d, want 2", n, err, got.Load())
	}
}

// TestDeliveryCutOffByShutdownIsNoAttempt: a request still waiting for
// the endpoint when SIGTERM ends the worker's context was not answered:
// it counts no attempt and goes back unclaimed, also when it was the
// attempt due at the end of the retry window (recorded, it would have
// failed the delivery for good without the endpoint ever answering).
func TestDeliveryCutOffByShutdownIsNoAttempt(t *testing.T) {
	for _, final := range []bool{false, true} {
		f := newFixture(t)
		f.endpoint(t, "http://127.0.0.1:9/hook")
		ev := f.emit(t)
		if final {
			f.clk.Advance(outbox.RetryFor) // the delivery's last attempt is due
		}
		ctx, stop := context.WithCancel(context.Background())
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			stop() // SIGTERM while the endpoint is still answering
			<-r.Context().Done()
			return nil, r.Context().Err()
		})}
		dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: client}
		if n, err := dl.RunOnce(ctx); n != 0 || err != nil {
			t.Errorf("final=%v: attempted %d (%v), want none", final, n, err)
		}
		if w := f.delivery(t, ev); w.status != "pending" || w.attempts != 0 {
			t.Errorf("final=%v: cut off by our own shutdown, recorded as attempt %d, status %s (%q)", final, w.attempts, w.status, w.lastError)
		}
		var locked bool
		if err := f.d.Pool.QueryRow(context.Background(), `SELECT locked_until IS NOT NULL FROM webhook_deliveries WHERE event_id = $1`, ev).Scan(&locked); err != nil || locked {
			t.Errorf("final=%v: still claimed after the shutdown (%v)", final, err)
		}
	}
}

// TestValidateEndpointRefusesNonPublicHosts: a marketplace cannot point
// deliveries at the services beside escrowd (loopback, private networks,
// cloud metadata), unless the operator allows private targets.
func TestValidateEndpointRefusesNonPublicHosts(t *testing.T) {
	refused := []string{
		"http://127.0.0.1:5432/", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0.0.0.0:8080/",
		"http://localhost:8080/v1/escrows", "http://LOCALHOST./", "http://api.localhost/",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://10.0.0.5/internal",
		"http://172.16.3.4/", "http://192.168.1.1/", "http://100.64.0.1/", "http://224.0.0.1/", "http://255.255.255.255/",
		"http://[::1]:9200/_bulk", "http://[::]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/",
		"http://[fd00:ec2::254]/", "http://[fe80::1%25eth0]/", "http://[ff02::1]/", "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/",
	}
	for _, u := range refused {
		if field, _ := outbox.ValidateEndpoint(u, []string{"*"}, outbox.Options{}); field != "url" {
			t.Errorf("%s: accepted, want refused naming url", u)
		}
		if field, msg := outbox.ValidateEndpoint(u, []string{"*"}, loopback); field != "" {
			t.Errorf("%s with private targets allowed: %s %s", u, field, msg)
		}
	}
	for _, u := range []string{"https://hooks.example.com/escrowd", "http://93.184.215.14/hook", "https://[2606:4700:4700::1111]/", "https://[64:ff9b::808:808]/", "https://h.example.com.:8443/x"} {
		if field, msg := outbox.ValidateEndpoint(u, []string{"*"}, outbox.Options{}); field != "" {
			t.Errorf("%s: %s %s, want accepted", u, field, msg)
		}
	}
}

// TestDeliveryConnectsOnlyToPublicAddresses: the address is checked where
// the connection goes, after DNS, so a name that resolves to a loopback
// address (or is rebound to one after registration) gets nothing.
func TestDeliveryConnectsOnlyToPublicAddresses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rc := &receiver{status: 200}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	// Registered while private targets were allowed (or rebound since).
	f.endpoint(t, "http://localhost:"+port+"/by-name")
	f.endpoint(t, srv.URL+"/by-address")
	ev := f.emit(t)
	public := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: outbox.NewClient(outbox.Options{})}
	if n, err := public.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("attempted %d (%v)", n, err)
	}
	if got := rc.paths(); len(got) != 0 {
		t.Fatalf("the receiver on loopback got %v", got)
	}
	rows, err := f.d.Pool.Query(ctx, `SELECT status, last_error FROM webhook_deliveries WHERE event_id = $1`, ev)
	if err != nil {
		t.Fatal(err)
	}
	var status, lastErr string
	if _, err := pgx.ForEachRow(rows, []any{&status, &lastErr}, func() error {
		if status != "pending" || !strings.Contains(lastErr, "not a public address") {
			t.Errorf("delivery %s, last error %q: want pending, refused as not public", status, lastErr)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(outbox.RetryDelay(1) + time.Second)
	private := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: outbox.NewClient(loopback)}
	if n, err := private.RunOnce(ctx); err != nil || n != 2 || len(rc.paths()) != 2 {
		t.Fatalf("with private targets allowed: attempted %d (%v), received %v", n, err, rc.paths())
	}
}

// TestWebhookRetriesAtLeast72Hours: "exponential backoff for at least 72
// hours, then marked failed". The last attempt used to be at about 68.5 h:
// the delivery was failed as soon as the next backoff would pass 72 h.
func TestWebhookRetriesAtLeast72Hours(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, f.clk.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f.endpoint(t, srv.URL)
	created := f.clk.Now()
	ev := f.emit(t)
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: srv.Client()}
	const poll = 5 * time.Minute // as a worker polls, coarsely
	for f.clk.Now().Sub(created) < outbox.RetryFor+time.Hour {
		if _, err := dl.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if w := f.delivery(t, ev); w.status == "failed" && f.clk.Now().Sub(created) < outbox.RetryFor {
			t.Fatalf("failed after %s and %d attempts, want retries for at least %s", f.clk.Now().Sub(created), w.attempts, outbox.RetryFor)
		}
		f.clk.Advance(poll)
	}
	w := f.delivery(t, ev)
	last := at[len(at)-1].Sub(created)
	if w.status != "failed" || w.attempts != len(at) || last < outbox.RetryFor || last > outbox.RetryFor+poll {
		t.Errorf("status %s after %d attempts, the last %s after the event: want failed, the last attempt at %s",
			w.status, len(at), last, outbox.RetryFor)
	}
	for i := 1; i < len(at)-1; i++ { // backoff between attempts, the last one excepted
		if gap := at[i].Sub(at[i-1]); gap < outbox.RetryDelay(i) {
			t.Errorf("attempt %d came %s after the one before, want at least %s", i+1, gap, outbox.RetryDelay(i))
		}
	}
}

// TestDeliveryLeaseAndClaim: a worker whose lease runs out mid-batch
// (slow endpoints) starts no more attempts, so a delivery another worker
// has claimed since is not sent twice at once, and its outcome, stale,
// does not overwrite the newer claim's. The lease used to be shorter than
// a batch could take, and outcomes were recorded by id alone.
func TestDeliveryLeaseAndClaim(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	got := map[string]int{}
	var order []string
	var other atomic.Pointer[outbox.Deliverer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := r.Header.Get("Escrowd-Event-Id")
		mu.Lock()
		got[ev]++
		order = append(order, ev)
		first := len(order) == 1
		mu.Unlock()
		if first {
			// The first worker's attempt: by now its lease has run out
			// (a clock jump; in real time an attempt is cut at
			// DeliveryTimeout, well within the lease), and another
			// worker polls and claims the whole batch again.
			f.clk.Advance(outbox.DeliveryLease + time.Second)
			if n, err := other.Load().RunOnce(ctx); err != nil || n != 2 {
				t.Errorf("the other worker attempted %d (%v), want 2", n, err)
			}
			w.WriteHeader(http.StatusBadGateway) // a stale outcome
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	f.endpoint(t, srv.URL)
	evs := []uuid.UUID{f.emit(t), f.emit(t)}
	first := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: srv.Client()}
	other.Store(&outbox.Deliverer{DB: f.d, Clock: f.clk, Client: srv.Client()})
	n, err := first.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	a := order[0] // the event the first worker was sending
	mu.Unlock()
	for _, ev := range evs {
		want := 1
		if ev.String() == a {
			want = 2 // the first worker's attempt, then the other's
		}
		if got[ev.String()] != want {
			t.Errorf("event %s sent %d times, want %d (requests %v)", ev, got[ev.String()], want, order)
		}
		if w := f.delivery(t, ev); w.status != "delivered" || w.attempts != 1 {
			t.Errorf("event %s: %+v, want delivered by the other worker (the first one's outcome dropped)", ev, w)
		}
	}
	if n != 1 {
		t.Errorf("the first worker attempted %d, want 1: its lease ran out after the first", n)
	}

	// A worker out of lease with nobody else polling gives the rest of its
	// batch back at once.
	evs = []uuid.UUID{f.emit(t), f.emit(t)}
	slow := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		f.clk.Advance(outbox.DeliveryLease)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})}}
	if n, err := slow.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("slow worker attempted %d (%v), want 1", n, err)
	}
	var left int
	if err := f.d.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND locked_until IS NULL AND event_id = ANY ($1)`, evs).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d deliveries released (%v), want 1", left, err)
	}
	if n, err := other.Load().RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("released delivery: attempted %d (%v), want 1", n, err)
	}
}

// TestRedeliverGetsANewRetryWindow: a redelivery resets the retry window,
// not only the attempts (the first failure after it used to be final), and
// does not unlock a delivery being sent (another worker used to send it at
// the same time).
func TestRedeliverGetsANewRetryWindow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var inFlight atomic.Pointer[func()] // what happens while the endpoint is called
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fn := inFlight.Swap(nil); fn != nil {
			(*fn)()
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f.endpoint(t, srv.URL)
	ev := f.emit(t)
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: srv.Client()}
	other := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: srv.Client()}
	for f.delivery(t, ev).status != "failed" {
		if _, err := dl.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(outbox.RetryDelay(20))
	}

	// Failed after 72 h; the endpoint is down a moment more.
	if _, err := f.store.Redeliver(ctx, f.tenant, ev); err != nil {
		t.Fatal(err)
	}
	if n, err := dl.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("redelivery attempted %d (%v)", n, err)
	}
	if w := f.delivery(t, ev); w.status != "pending" || w.attempts != 1 || !w.next.Equal(f.clk.Now().Add(outbox.RetryDelay(1))) {
		t.Fatalf("after one failed attempt of a redelivery: %+v, want pending, retried after %s", w, outbox.RetryDelay(1))
	}

	// Redelivered while an attempt is in flight: the delivery stays with
	// the worker sending it, and its failure counts in the new window.
	f.clk.Advance(outbox.RetryDelay(1))
	redeliver := func() {
		f.clk.Advance(time.Minute) // within the lease
		if _, err := f.store.Redeliver(ctx, f.tenant, ev); err != nil {
			t.Error(err)
		}
		if n, err := other.RunOnce(ctx); err != nil || n != 0 {
			t.Errorf("another worker attempted %d (%v) a delivery in flight", n, err)
		}
	}
	inFlight.Store(&redeliver)
	if n, err := dl.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("attempted %d (%v)", n, err)
	}
	if w := f.delivery(t, ev); w.status != "pending" || w.attempts != 1 || !w.next.Equal(f.clk.Now().Add(outbox.RetryDelay(1))) {
		t.Fatalf("attempt in flight during a redelivery: %+v, want its failure the first of the new window", w)
	}
}

// roundTrip is an http.RoundTripper of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRetryDelayGrowsAndCaps(t *testing.T) {
	prev := time.Duration(0)
	for n := 1; n < 30; n++ {
		d := outbox.RetryDelay(n)
		if d < prev || d > 6*time.Hour {
			t.Fatalf("RetryDelay(%d) = %s after %s", n, d, prev)
		}
		prev = d
	}
	if outbox.RetryDelay(1) != 30*time.Second || outbox.RetryDelay(30) != 6*time.Hour {
		t.Fatalf("delays %s .. %s", outbox.RetryDelay(1), outbox.RetryDelay(30))
	}
}
