package outbox

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Connection limits of the delivery client.
const (
	maxIdleConns       = 100
	idleConnTimeout    = 90 * time.Second
	maxResponseHeaders = 64 << 10
)

// Options are the webhook settings cmd/escrowd reads from its
// configuration.
type Options struct {
	// AllowPrivate lets endpoints name, and deliveries connect to,
	// addresses that are not public (see publicAddr): loopback, private
	// networks, link-local (cloud metadata services), CGNAT. Off, a
	// marketplace cannot make escrowd post to the services beside it. On
	// for tests, the demo, and operators whose receivers are on their own
	// network (ESCROWD_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
}

// errRedirect marks an answer that asked to be sent elsewhere.
var errRedirect = errors.New("redirects are not followed")

// errNotPublic marks a connection refused because of where it would go.
var errNotPublic = errors.New("not a public address (ESCROWD_WEBHOOK_ALLOW_PRIVATE allows it)")

// NewClient returns the HTTP client webhook deliveries are sent with: each
// request is cut after DeliveryTimeout, redirects are not followed (see
// refuseRedirects), no proxy is used, and unless o.AllowPrivate every
// connection is checked where it goes, after DNS resolution: a name that
// resolves (or is rebound) to a non-public address is refused.
func NewClient(o Options) *http.Client {
	dialer := &net.Dialer{Timeout: DeliveryTimeout, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		dialer.Control = refuseNotPublic
	}
	transport := &http.Transport{
		// No proxy: a proxy would make the connection the check sees
		// the proxy's, and reach the endpoint's address unchecked.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           maxIdleConns,
		IdleConnTimeout:        idleConnTimeout,
		TLSHandshakeTimeout:    DeliveryTimeout,
		MaxResponseHeaderBytes: maxResponseHeaders,
	}
	return &http.Client{Timeout: DeliveryTimeout, CheckRedirect: refuseRedirects, Transport: transport}
}

// refuseRedirects makes the client answer a 3xx as it came. Following it
// would lose the event or leak it: on 301, 302 and 303 net/http turns the
// POST into a GET without a body, whose 2xx would mark an event delivered
// that never arrived; on 307 and 308 it sends the signed body and its
// Escrowd-Signature to whatever host the answer names.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// defaultClient is a Deliverer's without one: one transport for the
// process, so connections are reused from batch to batch.
var defaultClient = NewClient(Options{})

// withoutRedirects returns a copy of c (sharing its transport) that does
// not follow redirects, so a Deliverer given a plain client is as safe
// from redirects as one given NewClient's (the address check, though,
// lives in NewClient's dialer).
func withoutRedirects(c *http.Client) *http.Client {
	if c == nil {
		return defaultClient
	}
	cc := *c
	cc.CheckRedirect = refuseRedirects
	return &cc
}

// refuseNotPublic is a net.Dialer Control: it runs for every address the
// dialer is about to connect to, after resolution ("ip:port").
func refuseNotPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !publicAddr(ap.Addr()) {
		return fmt.Errorf("connect to %s: %w", address, errNotPublic)
	}
	return nil
}

// nonPublic are the networks a webhook may not reach unless allowed.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network" (0.0.0.0 reaches the host itself)
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata (169.254.169.254)
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("::/96"),          // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("fc00::/7"),       // unique local (RFC 4193), AWS metadata fd00:ec2::254
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// IPv6 prefixes that carry an IPv4 address, checked as that address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // the IPv4 address in the last 4 bytes
	sixToFour = netip.MustParsePrefix("2002::/16")    // the IPv4 address in bytes 2..5
)

// publicAddr reports whether ip is an address webhooks may be sent to: none
// of nonPublic, also when written as IPv4-mapped, NAT64 or 6to4 IPv6.
func publicAddr(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap() // a zoned address matches no prefix
	if !ip.IsValid() {
		return false
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
