package outbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/seal"
)

// ErrInvalidEndpoint is returned for a bad webhook URL or event type list.
var ErrInvalidEndpoint = errors.New("invalid webhook endpoint")

// MaxEndpoints bounds a tenant's enabled webhook endpoints: every event is
// queued for each subscribed one in the transaction that emits it, so the
// count is the fan-out of every write. 50 leaves room for one receiver
// per event type and environment; a disabled endpoint (DisableEndpoint)
// no longer counts.
//
// MaxEndpointsInAll bounds a tenant's endpoints enabled or disabled: a
// disabled one stays, as the history of its deliveries, so without it
// creating and disabling in a loop would grow the tenant's rows without
// end. The queries of enabled endpoints (Emit, Redeliver, the count
// against MaxEndpoints) read the partial index
// webhook_endpoints_tenant_enabled (migration 0015) and so never see the
// disabled ones; this bound keeps the count against it, and the list,
// small. 1,000 is 20 times MaxEndpoints: room for years of rotating
// receivers.
const (
	MaxEndpoints      = 50
	MaxEndpointsInAll = 1000
)

// ErrTooManyEndpoints is returned when creating an endpoint would pass
// MaxEndpoints, and (wrapped: ErrTooManyEndpointsInAll) MaxEndpointsInAll.
var ErrTooManyEndpoints = fmt.Errorf("a tenant may have at most %d webhook endpoints", MaxEndpoints)

// ErrTooManyEndpointsInAll is returned when creating an endpoint would
// pass MaxEndpointsInAll; it is also ErrTooManyEndpoints (errors.Is).
var ErrTooManyEndpointsInAll error = endpointsLimitError(fmt.Sprintf(
	"a tenant may have at most %d webhook endpoints in all: disabled endpoints count toward this total limit (at most %d enabled)",
	MaxEndpointsInAll, MaxEndpoints))

type endpointsLimitError string

func (e endpointsLimitError) Error() string { return string(e) }
func (endpointsLimitError) Unwrap() error   { return ErrTooManyEndpoints }

// Endpoint is a tenant's webhook receiver.
type Endpoint struct {
	ID         uuid.UUID  `json:"id"`
	URL        string     `json:"url"`
	EventTypes []string   `json:"event_types"`
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	// Secret is set only in the response that creates the endpoint.
	Secret string `json:"secret,omitempty"`
}

// ValidateEndpoint checks an endpoint's URL and event types. Unless
// o.AllowPrivate, the URL may not name a non-public address (publicAddr)
// or localhost; a DNS name is not resolved here: each delivery checks the
// address it connects to (NewClient).
func ValidateEndpoint(rawURL string, types []string, o Options) (field, msg string) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(rawURL) > 2000 {
		return "url", "must be an absolute http or https URL of at most 2000 characters"
	}
	if !o.AllowPrivate && !publicHost(u.Hostname()) {
		return "url", "must name a public host: loopback, private, link-local, multicast and other non-public addresses are refused"
	}
	if len(types) == 0 || len(types) > MaxEventTypes {
		return "event_types", fmt.Sprintf("must list 1 to %d event types (or \"*\")", MaxEventTypes)
	}
	for i, t := range types {
		if t == "" || len(t) > 100 {
			return "event_types[" + strconv.Itoa(i) + "]", "must be a non-empty event type"
		}
	}
	return "", ""
}

// publicHost reports whether a URL's host may be a webhook's: a public IP
// address, or a DNS name other than localhost. A name whose last label is
// numeric ("2130706433", "127.1", "0x7f.1") is no DNS name but an IPv4
// address in a form some resolvers read: it is refused.
func publicHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return publicAddr(ip)
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "" || name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return false
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return false
	}
	return true
}

// CreateEndpoint stores an endpoint with a fresh signing secret, returned
// once in the result and stored sealed under secrets (plain when nil). A
// tenant with MaxEndpoints enabled endpoints gets ErrTooManyEndpoints, one
// with MaxEndpointsInAll endpoints enabled or disabled
// ErrTooManyEndpointsInAll (tx is serializable: two creations racing for
// the last place cannot both commit). The count reads at most
// MaxEndpointsInAll rows.
func CreateEndpoint(ctx context.Context, tx pgx.Tx, secrets *seal.Box, o Options, tenant uuid.UUID, rawURL string, types []string, now time.Time) (Endpoint, error) {
	if field, msg := ValidateEndpoint(rawURL, types, o); field != "" {
		return Endpoint{}, fmt.Errorf("%w: %s %s", ErrInvalidEndpoint, field, msg)
	}
	// One read of at most MaxEndpointsInAll rows counts both: below that
	// total it holds every enabled endpoint.
	var all, disabled int
	err := tx.QueryRow(ctx, `SELECT count(*), count(disabled_at) FROM (SELECT disabled_at FROM webhook_endpoints WHERE tenant_id = $1 LIMIT $2) AS e`,
		tenant, MaxEndpointsInAll).Scan(&all, &disabled)
	if err != nil {
		return Endpoint{}, fmt.Errorf("create webhook endpoint: count: %w", err)
	}
	if all-disabled >= MaxEndpoints {
		return Endpoint{}, fmt.Errorf("create webhook endpoint: %w", ErrTooManyEndpoints)
	}
	if all >= MaxEndpointsInAll {
		return Endpoint{}, fmt.Errorf("create webhook endpoint: %w", ErrTooManyEndpointsInAll)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{ID: uuid.Must(uuid.NewV7()), URL: rawURL, EventTypes: types, CreatedAt: now,
		Secret: "whsec_" + base64.RawURLEncoding.EncodeToString(raw[:])}
	stored, err := secrets.Seal(ep.Secret, secretContext(ep.ID))
	if err != nil {
		return Endpoint{}, err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ep.ID, tenant, ep.URL, ep.EventTypes, stored, now)
	if err != nil {
		return Endpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return ep, nil
}

// secretContext binds an endpoint's sealed secret to its row.
func secretContext(endpoint uuid.UUID) string { return "webhook_endpoints.secret:" + endpoint.String() }

// CheckSecrets verifies that every enabled endpoint's sealed signing secret
// names box's key (by key id; none without a box): a process that delivers
// webhooks without the key they were sealed under would fail every
// delivery until it gives up. It names the keys that are missing.
func CheckSecrets(ctx context.Context, d *db.DB, box *seal.Box) error {
	rows, err := d.Pool.Query(ctx, `
		SELECT substr(secret, $1::INT4, $2::INT4) AS key_id, count(*) FROM webhook_endpoints
		WHERE disabled_at IS NULL AND secret LIKE $3 GROUP BY key_id ORDER BY key_id`, seal.KeyIDOffset, seal.KeyIDLen, seal.KeyIDPattern)
	if err != nil {
		return fmt.Errorf("check webhook secrets: %w", err)
	}
	var id string
	var n int64
	var missing []string
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		if id != box.KeyID() {
			missing = append(missing, fmt.Sprintf("%d sealed under key %s", n, id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check webhook secrets: %w", err)
	}
	if len(missing) > 0 {
		have := "no ESCROWD_SECRET_KEY is set"
		if box != nil {
			have = "the configured key is " + box.KeyID()
		}
		return fmt.Errorf("webhook endpoints' signing secrets: %s; %s: set the key they were sealed under", strings.Join(missing, ", "), have)
	}
	return nil
}

// ListEndpoints lists a page of a tenant's endpoints (without secrets) in
// id order: at most limit (1..MaxListLimit; MaxListLimit otherwise) after
// the id after (uuid.Nil: from the start).
func ListEndpoints(ctx context.Context, d *db.DB, tenant, after uuid.UUID, limit int) ([]Endpoint, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	rows, err := d.Pool.Query(ctx, `
		SELECT id, url, event_types, created_at, disabled_at FROM webhook_endpoints
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Endpoint, error) {
		var e Endpoint
		err := row.Scan(&e.ID, &e.URL, &e.EventTypes, &e.CreatedAt, &e.DisabledAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return out, nil
}

// DisableEndpoint disables a tenant's endpoint and returns it. No delivery
// is queued for it from then on (Emit and Redeliver skip disabled
// endpoints), and the deliveries still pending for it are not sent: a
// worker fails them, unattempted, when they come due (Deliverer.RunOnce),
// so disabling costs one row however many are pending (a dead endpoint
// can have days of them). The row stays, as the history of its
// deliveries, and no longer counts toward MaxEndpoints (it still counts
// toward MaxEndpointsInAll). Disabling an
// endpoint disabled already changes nothing: it is returned as it is,
// with the time it was first disabled. Another tenant's endpoint, or none,
// is ErrNotFound.
func DisableEndpoint(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, now time.Time) (Endpoint, error) {
	var e Endpoint
	err := tx.QueryRow(ctx, `
		UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, $3) WHERE tenant_id = $1 AND id = $2
		RETURNING id, url, event_types, created_at, disabled_at`, tenant, id, now).
		Scan(&e.ID, &e.URL, &e.EventTypes, &e.CreatedAt, &e.DisabledAt)
	if db.IsNoRows(err) {
		return Endpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("disable webhook endpoint %s: %w", id, err)
	}
	return e, nil
}

// Redeliver queues the event again for every enabled endpoint of the tenant
// subscribed to its type: failed and delivered deliveries return to
// pending, due now, with no attempts and a new retry window (created_at is
// when a delivery was last queued). A delivery being sent right now keeps
// its claim and lock, so no other worker sends it at the same time; its
// attempt's outcome is recorded against the new schedule. It returns how
// many deliveries were queued.
func Redeliver(ctx context.Context, tx pgx.Tx, tenant, eventID uuid.UUID, now time.Time) (int64, error) {
	var typ string
	err := tx.QueryRow(ctx, `SELECT type FROM events WHERE tenant_id = $1 AND id = $2`, tenant, eventID).Scan(&typ)
	if db.IsNoRows(err) {
		return 0, fmt.Errorf("event %s: %w", eventID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("redeliver %s: %w", eventID, err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, next_attempt_at, created_at)
		SELECT gen_random_uuid(), tenant_id, id, $2, 'pending', $4, $4 FROM webhook_endpoints
		WHERE tenant_id = $1 AND disabled_at IS NULL AND ($3 = ANY (event_types) OR '*' = ANY (event_types))
		ON CONFLICT (endpoint_id, event_id) DO UPDATE
		SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, created_at = excluded.created_at, last_error = ''`,
		tenant, eventID, typ, now)
	if err != nil {
		return 0, fmt.Errorf("redeliver %s: %w", eventID, err)
	}
	return tag.RowsAffected(), nil
}

// Sign returns the Escrowd-Signature header value for body sent at t:
// t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
