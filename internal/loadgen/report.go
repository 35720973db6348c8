package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// WriteText prints the result as text with Markdown tables.
func WriteText(w io.Writer, r Result) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("throughput: %.0f API ops/s, %.1f escrows completed/s (%d ops, %d escrows completed of %d started, in %.1f s)",
		r.OpsPerSec, r.EscrowsPerSec, r.Ops, r.Completed, r.Started, r.Elapsed)
	if r.PgbenchTPS > 0 {
		p("pgbench TPC-B: %.0f tps; escrowd %.0f API ops/s = %.2f × pgbench", r.PgbenchTPS, r.OpsPerSec, r.Ratio)
	}
	p("escrows by outcome: %s", countList(r.Outcomes))
	p("risk gate decisions on payouts: %s", countList(r.Gate))
	if r.DB != nil {
		retries := map[string]int{}
		for k, v := range r.DB.Retries {
			retries[k] = int(v)
		}
		p("server write transactions (/metrics): committed %d, rejected %d, failed %d; attempts retried %d (%s); attempts run alone %d",
			r.DB.Committed, r.DB.Rejected, r.DB.Failed, r.DB.RetriesTotal(), countList(retries), r.DB.Serial)
	}
	if r.MaxRSS > 0 {
		p("max RSS sampled: %.0f MB", float64(r.MaxRSS)/(1<<20))
	}
	p("")
	p("| operation | count | errors | mean ms | p50 ms | p95 ms | p99 ms | max ms |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range append(slices.Clone(r.Latency), r.Total) {
		p("| %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |", l.Op, l.Count, l.Errors, l.MeanMs, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
	}
	p("")
	p("responses by status: %s", countList(r.Statuses))
	if r.GateBlocks > 0 {
		p("payouts blocked by the risk gate (422 release_blocked/refund_blocked, not errors): %d", r.GateBlocks)
	}
	if len(r.ErrorList) == 0 {
		p("errors: none")
	} else {
		p("errors: %d", r.Errors)
		p("")
		p("| status | code | count | first example |")
		p("|---:|---|---:|---|")
		for _, e := range r.ErrorList {
			p("| %d | %s | %d | %s |", e.Status, e.Code, e.Count, strings.ReplaceAll(e.Example, "|", "\\|"))
		}
	}
	for _, n := range r.Notes {
		p("note: %s", n)
	}
	p("")
	p("invariants (through the API):")
	for _, c := range r.Invariants {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		p("  %s %s: %s", mark, c.Name, c.Detail)
	}
}

// countList renders a count map as "a 3, b 2", largest first.
func countList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b string) int {
		if d := m[b] - m[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k + " " + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ", ")
}

// WriteJSON writes the result to path.
func WriteJSON(path string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
