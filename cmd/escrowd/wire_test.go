package main

import (
	"context"
	"testing"

	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// TestWebhooksRefusePrivateTargetsUnlessAllowed: serve refuses webhook
// endpoints on private addresses by default; ESCROWD_WEBHOOK_ALLOW_PRIVATE
// allows them, and a value that is no boolean stops the process.
func TestWebhooksRefusePrivateTargetsUnlessAllowed(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	for _, tc := range []struct {
		env         string
		allow, fail bool
	}{{"", false, false}, {"false", false, false}, {"true", true, false}, {"yes please", false, true}} {
		t.Setenv("ESCROWD_WEBHOOK_ALLOW_PRIVATE", tc.env)
		cfg, _, err := load("serve", nil)
		if tc.fail {
			if err == nil {
				t.Errorf("ESCROWD_WEBHOOK_ALLOW_PRIVATE=%q accepted", tc.env)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ESCROWD_WEBHOOK_ALLOW_PRIVATE=%q: %v", tc.env, err)
		}
		cfg.DatabaseURL = d.Pool.Config().ConnString()
		a, err := open(ctx, *cfg)
		if err != nil {
			t.Fatalf("ESCROWD_WEBHOOK_ALLOW_PRIVATE=%q: %v", tc.env, err)
		}
		field, _ := a.set.Outbox.ValidateEndpoint("http://127.0.0.1:9/hook", []string{"*"})
		if got := field == ""; got != tc.allow {
			t.Errorf("ESCROWD_WEBHOOK_ALLOW_PRIVATE=%q: loopback endpoint accepted %v, want %v", tc.env, got, tc.allow)
		}
		a.close()
	}
}
