package loadgen

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// MaxSeriesPoints bounds the per-second time series (one point a second:
// a day). Longer runs keep the first day's points only.
const MaxSeriesPoints = 24 * 60 * 60

// gateBlockCodes are the problems of a payout the risk gate blocked: the
// gate working as configured, counted as a gate outcome, not an error.
var gateBlockCodes = []string{"release_blocked", "refund_blocked"}

// Point is one second of the run.
type Point struct {
	Second    int     `json:"second"` // seconds since the start, at the end of the window
	Ops       int     `json:"ops"`
	Errors    int     `json:"errors"`
	Completed int     `json:"escrows_completed"`
	P99Ms     float64 `json:"p99_ms"` // p99 of the window's operations
	RSSBytes  int64   `json:"rss_bytes,omitempty"`
}

// errKey names an error class: the HTTP status (0 for a transport error)
// and the problem code.
type errKey struct {
	Status int
	Code   string
}

// Recorder collects what the clients measure. It is safe for concurrent
// use; one mutex is plenty at a few thousand operations a second.
type Recorder struct {
	mu        sync.Mutex
	start     time.Time
	ops       map[string]*Histogram
	opErrs    map[string]int
	all       Histogram
	window    Histogram
	winOps    int
	winErrs   int
	winDone   int
	total     int
	errors    int
	blocked   int
	fiveXX    int
	statuses  map[int]int
	errs      map[errKey]int
	examples  map[errKey]string
	outcomes  map[string]int
	gate      map[string]int
	started   int
	completed int
	series    []Point
	maxRSS    int64
}

// NewRecorder starts recording at start.
func NewRecorder(start time.Time) *Recorder {
	return &Recorder{start: start, ops: map[string]*Histogram{}, opErrs: map[string]int{}, statuses: map[int]int{}, errs: map[errKey]int{},
		examples: map[errKey]string{}, outcomes: map[string]int{}, gate: map[string]int{}}
}

// isGateBlock reports whether a response is a payout the gate blocked.
func isGateBlock(status int, code string) bool {
	return status == 422 && slices.Contains(gateBlockCodes, code)
}

// Observe records one API operation: its latency, status (0: no answer)
// and problem code. detail is kept as the first example of its error class.
func (r *Recorder) Observe(op string, d time.Duration, status int, code, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.ops[op]
	if h == nil {
		h = new(Histogram)
		r.ops[op] = h
	}
	h.Record(d)
	r.all.Record(d)
	r.window.Record(d)
	r.total++
	r.winOps++
	r.statuses[status]++
	if status >= 500 {
		r.fiveXX++
	}
	switch {
	case status >= 200 && status < 300:
	case isGateBlock(status, code):
		r.blocked++
	default:
		r.errors++
		r.winErrs++
		r.opErrs[op]++
		k := errKey{status, code}
		if r.errs[k] == 0 {
			r.examples[k] = fmt.Sprintf("%s: %s", op, detail)
		}
		r.errs[k]++
	}
}

// Started counts an escrow whose lifecycle began.
func (r *Recorder) Started() {
	r.mu.Lock()
	r.started++
	r.mu.Unlock()
}

// Finished records how an escrow's lifecycle ended (Outcome*) and the
// error that failed it; an error that is not an API answer (an answer the
// generator could not use) is counted as an error of status -1.
func (r *Recorder) Finished(outcome string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[outcome]++
	var ae *APIError
	if err != nil && !errors.As(err, &ae) {
		k := errKey{-1, "client"}
		if r.errs[k] == 0 {
			r.examples[k] = err.Error()
		}
		r.errs[k]++
		r.errors++
	}
	if outcome == OutcomeCompleted {
		r.completed++
		r.winDone++
	}
}

// Gate counts one risk gate decision on a payout.
func (r *Recorder) Gate(decision string) {
	r.mu.Lock()
	r.gate[decision]++
	r.mu.Unlock()
}

// Tick closes the current one-second window at now, with the RSS sampled
// then (0: unknown), and returns its point.
func (r *Recorder) Tick(now time.Time, rss int64) Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Point{Second: int(now.Sub(r.start).Round(time.Second) / time.Second), Ops: r.winOps, Errors: r.winErrs, Completed: r.winDone,
		P99Ms: ms(r.window.Quantile(0.99)), RSSBytes: rss}
	r.maxRSS = max(r.maxRSS, rss)
	if len(r.series) < MaxSeriesPoints {
		r.series = append(r.series, p)
	}
	r.window.Reset()
	r.winOps, r.winErrs, r.winDone = 0, 0, 0
	return p
}

// SampleRSS records a resident memory sample outside the ticks.
func (r *Recorder) SampleRSS(rss int64) {
	r.mu.Lock()
	r.maxRSS = max(r.maxRSS, rss)
	r.mu.Unlock()
}

// Progress is the running totals the live line shows.
type Progress struct {
	Ops, Errors, Completed int
	P99                    time.Duration
}

// Progress returns the totals so far.
func (r *Recorder) Progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Progress{Ops: r.total, Errors: r.errors, Completed: r.completed, P99: r.all.Quantile(0.99)}
}

// FiveXX is the number of 5xx answers so far.
func (r *Recorder) FiveXX() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fiveXX
}

// Latency is one operation's latency summary, in milliseconds.
type Latency struct {
	Op     string  `json:"op"`
	Count  uint64  `json:"count"`
	Errors int     `json:"errors"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func latencyOf(op string, h *Histogram, errors int) Latency {
	return Latency{Op: op, Count: h.Count(), Errors: errors, MeanMs: ms(h.Mean()), P50Ms: ms(h.Quantile(0.50)), P95Ms: ms(h.Quantile(0.95)),
		P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
}

// ErrorCount is one class of failed operations.
type ErrorCount struct {
	Status  int    `json:"status"` // 0: no HTTP answer (transport error, timeout)
	Code    string `json:"code"`
	Count   int    `json:"count"`
	Example string `json:"example"`
}

// Summary is what the recorder measured, for the report.
type Summary struct {
	Ops        int            `json:"ops"`
	Errors     int            `json:"errors"`
	GateBlocks int            `json:"gate_blocks"`
	FiveXX     int            `json:"responses_5xx"`
	Started    int            `json:"escrows_started"`
	Completed  int            `json:"escrows_completed"`
	Outcomes   map[string]int `json:"outcomes"`
	Gate       map[string]int `json:"gate_decisions"`
	Statuses   map[string]int `json:"statuses"`
	ErrorList  []ErrorCount   `json:"errors_by_class"`
	Total      Latency        `json:"latency_all"`
	Latency    []Latency      `json:"latency"`
	Series     []Point        `json:"series"`
	MaxRSS     int64          `json:"max_rss_bytes"`
}

// Summary returns the totals, operations in workload order.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summary{Ops: r.total, Errors: r.errors, GateBlocks: r.blocked, FiveXX: r.fiveXX, Started: r.started, Completed: r.completed,
		Outcomes: maps.Clone(r.outcomes), Gate: maps.Clone(r.gate), Statuses: map[string]int{}, Total: latencyOf("all", &r.all, r.errors),
		Series: slices.Clone(r.series), MaxRSS: r.maxRSS}
	for st, n := range r.statuses {
		s.Statuses[fmt.Sprint(st)] = n
	}
	names := slices.Collect(maps.Keys(r.ops))
	slices.SortFunc(names, func(a, b string) int { return opRank(a) - opRank(b) })
	for _, op := range names {
		s.Latency = append(s.Latency, latencyOf(op, r.ops[op], r.opErrs[op]))
	}
	for k, n := range r.errs {
		s.ErrorList = append(s.ErrorList, ErrorCount{Status: k.Status, Code: k.Code, Count: n, Example: r.examples[k]})
	}
	slices.SortFunc(s.ErrorList, func(a, b ErrorCount) int { return b.Count - a.Count })
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
