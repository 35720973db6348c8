package outbox

import (
	"errors"
	"net/http"
)

// errRedirect marks an answer that asked to be sent elsewhere.
var errRedirect = errors.New("redirects are not followed")

// NewClient returns the HTTP client webhook deliveries are sent with: each
// request is cut after DeliveryTimeout, and redirects are not followed (see
// refuseRedirects).
func NewClient() *http.Client {
	return &http.Client{Timeout: DeliveryTimeout, CheckRedirect: refuseRedirects}
}

// refuseRedirects makes the client answer a 3xx as it came. Following it
// would lose the event or leak it: on 301, 302 and 303 net/http turns the
// POST into a GET without a body, whose 2xx would mark an event delivered
// that never arrived; on 307 and 308 it sends the signed body and its
// Escrowd-Signature to whatever host the answer names.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// withoutRedirects returns a copy of c that does not follow redirects, so a
// Deliverer given a plain client is as safe as one given NewClient's.
func withoutRedirects(c *http.Client) *http.Client {
	if c == nil {
		return NewClient()
	}
	cc := *c
	cc.CheckRedirect = refuseRedirects
	return &cc
}
