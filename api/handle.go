package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/audit"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/idem"
	"github.com/escrowd/escrowd/internal/tenants"
)

// route is one row of the route table.
type route struct {
	method string
	path   string
	// roles allowed; nil makes the route public (health checks).
	roles []tenants.Role
	// read answers a GET: 200 with the returned value as JSON (or a raw
	// body, see rawBody).
	read func(r *http.Request) (any, error)
	// write changes state. It calls exactly one domain method that runs
	// db.Write; the value that method's transaction returned comes back here
	// and render turns it into the status and JSON body.
	write  func(r *http.Request, body []byte) (any, error)
	render func(v any) (int, any)
	// renderFor, when set, is used instead of render: for answers that
	// depend on the caller (personal data masked by role).
	renderFor func(r *http.Request, v any) (int, any)
	// idempotent routes require an Idempotency-Key header.
	idempotent bool
	// accept lists the request media types (default application/json).
	accept []string
	// bodyLimit overrides MaxBodyBytes.
	bodyLimit int64
	// serve, when set, handles the request itself after authentication.
	serve http.HandlerFunc
	// operator routes act on the whole process, not on a tenant's data
	// (profiling): only keys of the operator tenant may use them, and
	// without one they do not exist (see Deps.Operator).
	operator bool
}

// rawBody lets a read handler answer with another media type (CSV).
type rawBody struct {
	contentType string
	body        []byte
}

// resourceIDer lets a write result name the resource for the audit log.
type resourceIDer interface{ ResourceID() string }

func (s *Server) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.roles != nil {
			if err := s.authenticate(r, rt); err != nil {
				writeProblem(w, problemFor(s.log, r, err))
				return
			}
		}
		if r.Method != rt.method { // only operator routes match any method (see New)
			w.Header().Set("Allow", rt.method)
			writeProblem(w, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path))
			return
		}
		if err := checkParams(r); err != nil {
			writeProblem(w, problemFor(s.log, r, err))
			return
		}
		var err error
		switch {
		case rt.serve != nil:
			rt.serve(w, r)
		case rt.write != nil:
			err = s.serveWrite(rt, w, r)
		default:
			err = s.serveRead(rt, w, r)
		}
		if err != nil {
			writeProblem(w, problemFor(s.log, r, err))
		}
	})
}

func (s *Server) serveRead(rt route, w http.ResponseWriter, r *http.Request) error {
	v, err := rt.read(r)
	if err != nil {
		return err
	}
	if raw, ok := v.(rawBody); ok {
		w.Header().Set("Content-Type", raw.contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(raw.body)
		return nil
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// serveWrite runs a state-changing request: the idempotency claim, then the
// domain call whose transaction also stores the response under the key and
// the audit record (through a db.Finisher), then the answer.
func (s *Server) serveWrite(rt route, w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	render := rt.render
	if rt.renderFor != nil {
		render = func(v any) (int, any) { return rt.renderFor(r, v) }
	}
	limit := rt.bodyLimit
	if limit == 0 {
		limit = MaxBodyBytes
	}
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	accept := rt.accept
	if accept == nil {
		accept = []string{"application/json"}
	}
	mediaType, err := checkContentType(r, body, accept)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	var claim idem.Begin
	if rt.idempotent {
		if key == "" {
			return problemf(http.StatusBadRequest, "idempotency_key_required", "this request changes state: send an Idempotency-Key header")
		}
		if len(key) > idem.MaxKeyLength {
			return fieldProblem(http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key", "must be at most 255 characters")
		}
		hash := requestHash(r.Method, r.URL.RequestURI(), p.KeyID, ifMatchValue(r), mediaType, body)
		claim, err = idem.Claim(r.Context(), s.db, p.TenantID, key, hash, s.clock.Now(),
			func() []byte { return legacyRequestHash(r.Method, r.URL.RequestURI(), body) })
		if err != nil {
			return err
		}
		if claim.Replay != nil {
			body, err := s.secrets.Open(string(claim.Replay.Body), replayContext(p.TenantID, key))
			if err != nil {
				return fmt.Errorf("idempotency key %q: stored response: %w", key, err)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, claim.Replay.Status, []byte(body))
			return nil
		}
	} else {
		key = ""
	}
	rec := audit.Record{TenantID: p.TenantID, KeyID: p.KeyID, Role: string(p.Role), Method: r.Method,
		Route: routeTemplate(r), ResourceID: pathVar(r, "id"), RequestID: requestID(r.Context())}

	if key != "" {
		// A panic below must not leave the key claimed for its whole lease.
		defer func() {
			if p := recover(); p != nil {
				s.recordFailure(r.Context(), principal(r), key, claim.Owner, audit.Record{TenantID: principal(r).TenantID,
					KeyID: principal(r).KeyID, Role: string(principal(r).Role), Method: r.Method, Route: routeTemplate(r),
					RequestID: requestID(r.Context())}, http.StatusInternalServerError, "internal_error", nil)
				panic(p)
			}
		}()
	}
	var finished atomic.Bool
	var status int
	var out []byte
	fin := func(ctx context.Context, tx pgx.Tx, v any) error {
		st, resp := render(v)
		b, err := json.Marshal(resp)
		if err != nil {
			return err
		}
		status, out = st, b
		// The stored response and the audit record, sent with COMMIT.
		batch := &db.Batch{}
		if key != "" {
			resp, err := s.replayResponse(p.TenantID, key, st, b)
			if err != nil {
				return err
			}
			idem.QueueComplete(batch, p.TenantID, key, claim.Owner, resp)
		}
		a := rec
		if id, ok := v.(resourceIDer); ok && a.ResourceID == "" {
			a.ResourceID = id.ResourceID()
		}
		a.Status, a.Outcome, a.At = st, audit.OutcomeOf(st), s.clock.Now()
		audit.Queue(batch, a)
		if err := db.Send(ctx, tx, batch); err != nil {
			return fmt.Errorf("finish %s %s: %w", rec.Method, rec.Route, err)
		}
		finished.Store(true)
		return nil
	}
	ctx := db.WithFinisher(r.Context(), fin)
	v, err := rt.write(r.WithContext(ctx), body)
	if err != nil {
		prob := problemFor(s.log, r, err)
		b, _ := json.Marshal(prob)
		s.recordFailure(r.Context(), p, key, claim.Owner, rec, prob.Status, prob.Code, b)
		writeProblem(w, prob)
		return nil
	}
	if !finished.Load() {
		// The domain method did not run its change through db.Write: a
		// programming error. Store what we can so a retry replays.
		s.log.ErrorContext(r.Context(), "write route did not finish through db.Write", "route", rec.Route)
		st, resp := render(v)
		out, _ = json.Marshal(resp)
		status = st
		s.recordFailure(r.Context(), p, key, claim.Owner, rec, status, "", out)
	}
	writeRaw(w, status, out)
	return nil
}

// requestHash fingerprints a request for its idempotency key: the same
// request sent again has the same hash; any other is refused under the key
// (idem.ErrReused). Besides the method, the URI and the body it holds
// the caller's API key, since what a write answers can depend on who asks
// (personal data is masked by role: renderFor), so another key of the
// tenant must not be handed the first caller's stored response; the
// If-Match header as ifMatch reads it (quotes and W/ aside), the
// precondition the change was made under, so a retry
// with another one is not answered as if it had held; and the body's
// media type (as checkContentType parsed it: lower case, no parameters;
// empty without a body), since the same bytes are read differently as
// another type (an ECB XML feed sent as text/csv is refused, as
// application/xml it is imported). Each part but the last is
// length-prefixed, so no two requests run together into one input, and
// the input starts with requestHashVersion, so it never equals the input
// of legacyRequestHash (which starts with an HTTP method, never a digit or
// a newline) and no new key's hash is taken for a legacy one.
func requestHash(method, uri string, keyID uuid.UUID, ifMatch, mediaType string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(requestHashVersion))
	for _, part := range []string{method, uri, keyID.String(), ifMatch, mediaType} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	h.Write(body)
	return h.Sum(nil)
}

// requestHashVersion starts requestHash's input.
const requestHashVersion = "2\n"

// legacyRequestHash is the fingerprint idempotency keys were stored under
// before requestHash (method, URI and body only). serveWrite also accepts
// it for a key already stored (idem.Claim's legacy, computed only for a key stored under another hash), so a request
// completed before the upgrade and retried after it replays its response
// instead of being refused as another request; new keys are stored under
// requestHash only. It matches only keys written before this version,
// which are all pruned IdempotencyTTL (cmd/escrowd, 30 days by default)
// after the upgrade: then this function can be removed.
func legacyRequestHash(method, uri string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(method + " " + uri + "\n"))
	h.Write(body)
	return h.Sum(nil)
}

// replayContext binds a stored response, sealed, to its tenant and key.
func replayContext(tenant uuid.UUID, key string) string {
	return "idempotency_responses:" + tenant.String() + ":" + key
}

// replayResponse is a response as it is kept for replay under an
// idempotency key: its body sealed under the secret key (plain without
// one), bound to the tenant and the key.
func (s *Server) replayResponse(tenant uuid.UUID, key string, status int, body []byte) (idem.Response, error) {
	sealed, err := s.secrets.Seal(string(body), replayContext(tenant, key))
	return idem.Response{Status: status, Body: []byte(sealed)}, err
}

// replayable reports whether a rejection (status, problem code) is final,
// so that the same request with the same key must get it again. Answers
// that say "try again" (timeouts, rate limits, a closed client, server
// errors, and the codes in retryCodes) release the key.
func replayable(status int, code string) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests, statusClientClosed:
		return false
	}
	return status >= 400 && status < 500 && !retryCodes[code]
}

// retryCodes are the problem codes of 4xx answers whose detail tells the
// client to send the same request again, so that replaying them under the
// key would make the advice wrong: "conflict" is a change that lost a
// race with another one (disputes.ErrConcurrentChange, "changed
// concurrently; retry").
var retryCodes = map[string]bool{"conflict": true}

// statusClientClosed is the (nginx) status of a request whose client left.
const statusClientClosed = 499

// recordFailure stores a final rejection under its idempotency key (so
// the same request replays it) or releases the key (so it may be retried),
// with its audit record, in one transaction of its own.
func (s *Server) recordFailure(ctx context.Context, p tenants.Principal, key string, owner uuid.UUID, rec audit.Record, status int, code string, body []byte) {
	ctx = context.WithoutCancel(ctx)
	var resp idem.Response
	var sealErr error
	if key != "" {
		// Sealed before the transaction, which may run more than once.
		if resp, sealErr = s.replayResponse(p.TenantID, key, status, body); sealErr != nil {
			s.log.ErrorContext(ctx, "sealing a response for replay failed: the idempotency key will be released", "route", rec.Route, "err", sealErr)
		}
	}
	err := s.db.Tx(ctx, func(tx pgx.Tx) error {
		if key != "" {
			var err error
			if !replayable(status, code) || sealErr != nil {
				// Nothing to replay (or nothing that can be kept): the
				// key is released, and the audit record still written.
				err = idem.Abandon(ctx, tx, p.TenantID, key, owner)
			} else {
				err = idem.Complete(ctx, tx, p.TenantID, key, owner, resp)
			}
			if err != nil {
				return err
			}
		}
		rec.Status, rec.Outcome, rec.At = status, audit.OutcomeOf(status), s.clock.Now()
		return audit.Write(ctx, tx, rec)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record failed request", "err", err, "route", rec.Route)
	}
}

func routeTemplate(r *http.Request) string {
	if m := mux.CurrentRoute(r); m != nil {
		if t, err := m.GetPathTemplate(); err == nil {
			return t
		}
	}
	return r.URL.Path
}
