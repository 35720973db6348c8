package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Client limits.
const (
	// RequestTimeout bounds one API call.
	RequestTimeout = 30 * time.Second
	// MaxResponseBytes bounds a response body read.
	MaxResponseBytes = 16 << 20
)

// Roles the generator acts as; Keys maps them to API keys.
const (
	RoleMarketplace  = "marketplace"
	RoleFinance      = "finance"
	RoleDisputeAgent = "dispute_agent"
	RoleRiskReviewer = "risk_reviewer"
	RoleAdmin        = "admin"
)

// Client calls the escrowd HTTP API as the roles it has keys for, timing
// every call into a Recorder.
type Client struct {
	base string
	keys map[string]string
	http *http.Client
	rec  *Recorder // nil: calls are not recorded (setup, probes)
}

// NewClient returns a client of the server at base (http://host:port)
// with up to conns connections kept open.
func NewClient(base string, keys map[string]string, conns int) *Client {
	tr := &http.Transport{Proxy: nil, MaxIdleConns: conns + 8, MaxIdleConnsPerHost: conns + 8, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true}
	return &Client{base: strings.TrimRight(base, "/"), keys: keys, http: &http.Client{Transport: tr, Timeout: RequestTimeout}}
}

// recording returns a copy of c that records into rec.
func (c *Client) recording(rec *Recorder) *Client {
	cc := *c
	cc.rec = rec
	return &cc
}

// APIError is a call answered with a non-2xx status, or not answered.
type APIError struct {
	Op     string
	Method string
	Path   string
	Status int    // 0: no answer
	Code   string // the problem's code
	Detail string
	Body   []byte
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s %s: %s", e.Method, e.Path, e.Detail)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Detail)
}

// Do sends body (JSON, nil for none) as role and decodes a 2xx answer into
// out (nil: ignored). A POST carries a fresh Idempotency-Key. Any other
// answer is an *APIError.
func (c *Client) Do(ctx context.Context, op, role, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if k := c.keys[role]; k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", uuid.NewString())
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
		resp.Body.Close()
	}
	elapsed := time.Since(start)
	if err != nil {
		if c.rec != nil {
			c.rec.Observe(op, elapsed, 0, "transport", err.Error())
		}
		return &APIError{Op: op, Method: method, Path: path, Detail: err.Error()}
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		if p.Code == "" {
			p.Code = "no_problem_code"
		}
		if c.rec != nil {
			c.rec.Observe(op, elapsed, resp.StatusCode, p.Code, p.Detail)
		}
		return &APIError{Op: op, Method: method, Path: path, Status: resp.StatusCode, Code: p.Code, Detail: p.Detail, Body: b}
	}
	if c.rec != nil {
		c.rec.Observe(op, elapsed, resp.StatusCode, "", "")
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}
