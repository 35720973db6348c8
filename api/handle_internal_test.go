package api

import (
	"fmt"
	"testing"

	"github.com/escrowd/escrowd/disputes"
)

// TestReplayable: only final rejections are stored under an idempotency
// key; answers that invite a retry release it, whether by their status
// or, for a 409 conflict that says "retry", by their code.
func TestReplayable(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   bool
	}{
		{400, "invalid_json", true}, {404, "not_found", true}, {409, "invalid_state", true}, {412, "precondition_failed", true},
		{422, "validation_failed", true},
		{409, "conflict", false},
		{408, "", false}, {425, "", false}, {429, "rate_limited", false}, {499, "client_closed_request", false},
		{500, "internal_error", false}, {503, "timeout", false}, {201, "", false},
	} {
		if got := replayable(tc.status, tc.code); got != tc.want {
			t.Errorf("replayable(%d, %q) = %v, want %v", tc.status, tc.code, got, tc.want)
		}
	}
}

// TestConcurrentChangeIsNotReplayed: the answer to
// disputes.ErrConcurrentChange says "retry", so it must not be stored as
// the final answer under the request's idempotency key.
func TestConcurrentChangeIsNotReplayed(t *testing.T) {
	p := problemFor(nil, nil, fmt.Errorf("dispute x: save: %w", disputes.ErrConcurrentChange))
	if p.Status != 409 || p.Code != "conflict" || replayable(p.Status, p.Code) {
		t.Fatalf("ErrConcurrentChange answers %d %s, replayable %v; want 409 conflict, not replayable", p.Status, p.Code, replayable(p.Status, p.Code))
	}
}
