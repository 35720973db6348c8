package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The server's transaction counters (internal/db), read from /metrics
// before and after the run: how many write transactions committed, were
// rejected (a domain error) or failed, and how many attempts were retried,
// by SQLSTATE and phase.
const (
	metricTx      = "escrowd_db_transactions_total"
	metricRetries = "escrowd_db_transaction_retries_total"
	metricSerial  = "escrowd_db_transaction_serial_attempts_total"
)

// DBCounters are the server's transaction counters over the run.
type DBCounters struct {
	Committed int64            `json:"committed"`
	Rejected  int64            `json:"rejected"`
	Failed    int64            `json:"failed"`
	Retries   map[string]int64 `json:"retries"` // "40001 body": attempts retried
	// Serial counts attempts run alone after repeated failures (db.SerialAfter).
	Serial int64 `json:"serial_attempts"`
}

// RetriesTotal is the number of attempts retried.
func (c DBCounters) RetriesTotal() int64 {
	var n int64
	for _, v := range c.Retries {
		n += v
	}
	return n
}

// scrapeDB reads the transaction counters from GET /metrics; ok is false
// when the server does not expose them.
func scrapeDB(ctx context.Context, c *Client) (DBCounters, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return DBCounters{}, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return DBCounters{}, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil || resp.StatusCode != http.StatusOK {
		return DBCounters{}, false
	}
	return parseDBMetrics(b)
}

// parseDBMetrics reads the counters from a Prometheus text exposition.
func parseDBMetrics(b []byte) (DBCounters, bool) {
	out := DBCounters{Retries: map[string]int64{}}
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, val, ok := strings.Cut(line, " "); ok && name == metricSerial {
			if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				out.Serial, found = int64(v), true
			}
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != metricTx && name != metricRetries) {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		found = true
		l := parseLabels(labels)
		if name == metricTx {
			switch l["outcome"] {
			case "committed":
				out.Committed += int64(v)
			case "rejected":
				out.Rejected += int64(v)
			case "failed":
				out.Failed += int64(v)
			}
			continue
		}
		out.Retries[l["sqlstate"]+" "+l["phase"]] += int64(v)
	}
	return out, found
}

func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return m
}

// sub returns the counters of c less those of before.
func (c DBCounters) sub(before DBCounters) DBCounters {
	out := DBCounters{Committed: c.Committed - before.Committed, Rejected: c.Rejected - before.Rejected, Failed: c.Failed - before.Failed, Serial: c.Serial - before.Serial, Retries: map[string]int64{}}
	for k, v := range c.Retries {
		if d := v - before.Retries[k]; d != 0 {
			out.Retries[k] = d
		}
	}
	return out
}
