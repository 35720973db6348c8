package api

import "testing"

// TestReplayable: only final rejections are stored under an idempotency
// key; answers that invite a retry release it.
func TestReplayable(t *testing.T) {
	for status, want := range map[int]bool{
		400: true, 404: true, 409: true, 412: true, 422: true,
		408: false, 425: false, 429: false, 499: false, 500: false, 503: false, 201: false,
	} {
		if got := replayable(status); got != want {
			t.Errorf("replayable(%d) = %v, want %v", status, got, want)
		}
	}
}
