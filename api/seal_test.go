package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/escrowd/escrowd/api"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/seal"
)

// TestSecretsSealedAtRest: with a secret key, registering a webhook
// endpoint stores neither its signing secret nor the response that carries
// it in plain text (the response is kept for idempotent replay), and a
// replay still answers the secret.
func TestSecretsSealedAtRest(t *testing.T) {
	e := newEnv(t)
	box, err := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the key was set: its response is kept in plain.
	plainReq := req{method: http.MethodPost, path: "/v1/webhook-endpoints", role: mp, idemKey: "hook-0",
		body: map[string]any{"url": "https://hooks.example.com/before", "event_types": []string{"*"}}}
	plainSecret := e.must(http.StatusCreated, plainReq).json(t)["secret"]

	deps := e.deps
	deps.Secrets = box
	deps.Outbox = &outbox.Store{DB: e.db, Clock: e.clock, Secrets: box}
	e.srv = httptest.NewServer(api.New(deps))
	t.Cleanup(e.srv.Close)

	r := req{method: http.MethodPost, path: "/v1/webhook-endpoints", role: mp, idemKey: "hook-1",
		body: map[string]any{"url": "https://hooks.example.com/escrowd", "event_types": []string{"*"}}}
	first := e.must(http.StatusCreated, r)
	secret, _ := first.json(t)["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("created %s", first.body)
	}
	var stored, response []byte
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT secret FROM webhook_endpoints WHERE url = 'https://hooks.example.com/escrowd'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT response_body FROM idempotency_responses WHERE key = 'hook-1'`).Scan(&response); err != nil {
		t.Fatal(err)
	}
	for what, b := range map[string][]byte{"endpoint secret": stored, "stored response": response} {
		if bytes.Contains(b, []byte(secret)) || !seal.Sealed(string(b)) {
			t.Errorf("%s holds the secret in plain text: %.80s", what, b)
		}
	}
	replay := e.must(http.StatusCreated, r)
	if replay.header.Get("Idempotent-Replayed") != "true" || replay.json(t)["secret"] != secret {
		t.Fatalf("replay %s (headers %v)", replay.body, replay.header)
	}
	// A response kept in plain before the key still replays.
	if old := e.must(http.StatusCreated, plainReq); old.header.Get("Idempotent-Replayed") != "true" || old.json(t)["secret"] != plainSecret {
		t.Fatalf("replay of a plain response %s", old.body)
	}
	// A rejection kept for replay is sealed too, and replays.
	bad := req{method: http.MethodPost, path: "/v1/webhook-endpoints", role: mp, idemKey: "hook-bad",
		body: map[string]any{"url": "ftp://hooks.example.com", "event_types": []string{"*"}}}
	first422 := e.must(http.StatusUnprocessableEntity, bad)
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT response_body FROM idempotency_responses WHERE key = 'hook-bad'`).Scan(&response); err != nil {
		t.Fatal(err)
	}
	if !seal.Sealed(string(response)) {
		t.Fatalf("stored rejection %.80s: want it sealed", response)
	}
	if again := e.must(http.StatusUnprocessableEntity, bad); again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first422.body) {
		t.Fatalf("replayed rejection %s, want %s", again.body, first422.body)
	}
}
