package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/tenants"
)

// demoStory is one scripted walk through the HTTP API.
type demoStory struct {
	title string
	run   func(ctx context.Context, d *demo) error
}

// demoStories are run in order; later capabilities add theirs here.
func demoStories() []demoStory {
	return []demoStory{
		{"webhooks and events", storyWebhooks},
		{"finance loads FX rates", storyRates},
		{"EUR 1,200 order paid in USD via a quote, released minus a 2.5% fee", storyCrossBorder},
		{"two-milestone order: first milestone released, then a partial refund", storyMilestones},
		{"not-as-described claim: the seller offers 30%, the buyer escalates, an agent refunds part", storyDispute},
		// stories:more (later capabilities add theirs before the balances)
		{"every account's balance and the trial balance", storyBalances},
	}
}

// demo drives a running server through its HTTP API and prints a log.
type demo struct {
	base string
	keys map[tenants.Role]string
	http *http.Client
	out  io.Writer
}

func cmdDemo(ctx context.Context, args []string) error {
	cfg, fs, err := load("demo", args)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Workers = true
	cfg.WebhookAllowPrivate = true // the demo's webhook endpoint is on loopback
	a, err := open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.migrate(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srvCtx, stop := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.serve(srvCtx, ln, ready) }()
	<-ready
	d := &demo{base: "http://" + ln.Addr().String(), keys: map[tenants.Role]string{}, http: &http.Client{Timeout: 30 * time.Second}, out: os.Stdout}
	err = d.run(ctx, a)
	stop()
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}

func (d *demo) run(ctx context.Context, a *app) error {
	t, err := a.set.Tenants.CreateTenant(ctx, "Demo Marketplace "+time.Now().UTC().Format("2006-01-02 15:04:05"))
	if err != nil {
		return err
	}
	d.logf("escrowd demo: server at %s, tenant %s (%s)", d.base, t.Name, t.ID)
	for _, r := range tenants.Roles {
		_, secret, err := a.set.Tenants.CreateKey(ctx, t.ID, r, "demo")
		if err != nil {
			return err
		}
		d.keys[r] = secret
	}
	d.logf("created one API key per role: %v", tenants.Roles)
	for i, s := range demoStories() {
		d.logf("")
		d.logf("── story %d: %s ──", i+1, s.title)
		if err := s.run(ctx, d); err != nil {
			return fmt.Errorf("story %q: %w", s.title, err)
		}
	}
	d.logf("")
	d.logf("demo finished")
	return nil
}

func (d *demo) logf(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

// call sends a request as role and decodes a 2xx answer into out; any other
// status is an error carrying the problem body.
func (d *demo) call(ctx context.Context, role tenants.Role, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.keys[role])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", uuid.NewString())
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func storyWebhooks(ctx context.Context, d *demo) error {
	var ep struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/webhook-endpoints",
		map[string]any{"url": "http://127.0.0.1:9/escrowd-demo", "event_types": []string{"*"}}, &ep); err != nil {
		return err
	}
	d.logf("registered webhook endpoint %s (signing secret shown once: %s…)", ep.ID, ep.Secret[:10])
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := d.call(ctx, tenants.RoleMarketplace, http.MethodGet, "/v1/events?limit=10", nil, &page); err != nil {
		return err
	}
	d.logf("GET /v1/events: %d events so far", len(page.Data))
	return nil
}
