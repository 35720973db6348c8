package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/escrowd/escrowd/risk"
)

// TestRiskProblems checks the error table rows of package risk that the
// risk routes cannot reach themselves (step-up errors come through the
// release routes).
func TestRiskProblems(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/releases/x/resend-code", nil)
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("resend: %w", &risk.RateLimitedError{RetryAfter: 29500 * time.Millisecond, Limit: "one code per 60 s"}), 429, "rate_limited"},
		{fmt.Errorf("confirm: %w", risk.ErrStepUpExpired), 422, "code_expired"},
		{fmt.Errorf("confirm: %w", risk.ErrStepUpNotFound), 409, "confirmation_not_pending"},
		{fmt.Errorf("review: %w", risk.ErrReviewDecided), 409, "review_decided"},
		{fmt.Errorf("approve: %w", risk.ErrPartyFrozen), 409, "party_frozen"},
		{fmt.Errorf("review: %w", risk.ErrNotFound), 404, "not_found"},
		{&risk.RuleError{Index: 2, Field: "when", Message: "bad"}, 422, "invalid_rule"},
	}
	for _, tt := range tests {
		p := problemFor(log, r, tt.err)
		if p.Status != tt.status || p.Code != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.err, p.Status, p.Code, tt.status, tt.code)
		}
	}
	p := problemFor(log, r, &risk.RateLimitedError{RetryAfter: 29500 * time.Millisecond})
	if p.Extra["retry_after_seconds"] != 30 {
		t.Errorf("retry_after_seconds %v, want 30", p.Extra["retry_after_seconds"])
	}
}
