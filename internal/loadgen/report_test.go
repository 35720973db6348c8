package loadgen

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRecorderClassifiesAnswers(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	r := NewRecorder(start)
	r.Observe(OpAccept, 10*time.Millisecond, 200, "", "")
	r.Observe(OpCreate, 5*time.Millisecond, 201, "", "")
	r.Observe(OpMilestone, 20*time.Millisecond, 422, "release_blocked", "the risk gate blocked this payout")
	r.Observe(OpAccept, 900*time.Millisecond, 500, "internal_error", "logged")
	r.Observe(OpFund, 30*time.Millisecond, 409, "invalid_state", "funded")
	r.Observe(OpFund, time.Second, 0, "transport", "connection refused")
	r.Started()
	r.Started()
	r.Finished(OutcomeCompleted, nil)
	r.Finished(OutcomeFailed, errors.New("decoding the answer"))
	r.Gate("approve")
	r.Gate("review")
	p := r.Tick(start.Add(time.Second), 50<<20)
	if p.Second != 1 || p.Ops != 6 || p.Errors != 3 || p.Completed != 1 || p.RSSBytes != 50<<20 || p.P99Ms < 900 {
		t.Errorf("first second: %+v", p)
	}
	r.Observe(OpShip, 3*time.Millisecond, 200, "", "")
	if p := r.Tick(start.Add(2*time.Second), 40<<20); p.Ops != 1 || p.Errors != 0 || p.P99Ms > 4 {
		t.Errorf("second second: %+v", p)
	}
	r.SampleRSS(60 << 20)
	s := r.Summary()
	if s.Ops != 7 || s.Errors != 4 || s.GateBlocks != 1 || s.FiveXX != 1 || s.Started != 2 || s.Completed != 1 || s.MaxRSS != 60<<20 {
		t.Errorf("summary: %+v", s)
	}
	if len(s.Series) != 2 || s.Statuses["422"] != 1 || s.Statuses["0"] != 1 || s.Gate["review"] != 1 {
		t.Errorf("summary: %+v", s)
	}
	var ops []string
	for _, l := range s.Latency {
		ops = append(ops, l.Op)
		if l.Op == OpFund && (l.Count != 2 || l.Errors != 2) {
			t.Errorf("fund: %+v", l)
		}
	}
	if strings.Join(ops, " ") != "create fund ship release_milestone accept" {
		t.Errorf("operations in workload order: %v", ops)
	}
	if len(s.ErrorList) != 4 || s.ErrorList[0].Count != 1 {
		t.Errorf("errors: %+v", s.ErrorList)
	}
	found := false
	for _, e := range s.ErrorList {
		if e.Status == -1 && e.Code == "client" && e.Example == "decoding the answer" {
			found = true
		}
	}
	if !found {
		t.Errorf("the client error is not listed: %+v", s.ErrorList)
	}
}

func TestWriteText(t *testing.T) {
	r := NewRecorder(time.Now())
	r.Observe(OpCreate, 5*time.Millisecond, 201, "", "")
	r.Observe(OpAccept, 7*time.Millisecond, 500, "internal_error", "x|y")
	res := Result{Clients: 2, Elapsed: 1, OpsPerSec: 2, Summary: r.Summary(), PgbenchTPS: 4, Ratio: 0.5,
		DB:         &DBCounters{Committed: 3, Failed: 1, Retries: map[string]int64{"40001 body": 11}},
		Invariants: []Check{{Name: "a", OK: true, Detail: "fine"}, {Name: "b", Detail: "broken"}}, Notes: []string{"disputes skipped"}}
	var b bytes.Buffer
	WriteText(&b, res)
	out := b.String()
	for _, want := range []string{"2 API ops/s", "0.50 × pgbench", "| create | 1 | 0 |", "| all | 2 | 1 |", "| 500 | internal_error | 1 | accept: x\\|y |",
		"committed 3, rejected 0, failed 1; attempts retried 11 (40001 body 11); attempts run alone 0", "note: disputes skipped", "ok   a: fine", "FAIL b: broken"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !res.Failed() {
		t.Error("a failed check does not fail the result")
	}
	if got := countList(map[string]int{"b": 2, "a": 2, "c": 5}); got != "c 5, a 2, b 2" {
		t.Errorf("countList: %q", got)
	}
}

func TestChartSVG(t *testing.T) {
	for _, series := range [][]Point{
		nil,
		{{Second: 1, Ops: 0}},
		{{Second: 1, Ops: 950, Completed: 150, P99Ms: 31.5}, {Second: 2, Ops: 1020, Completed: 170, P99Ms: 48.2}, {Second: 3, Ops: 990, Completed: 160, P99Ms: 12}},
	} {
		svg := ChartSVG(series, `escrowd bench: <32 clients> & "p99"`)
		d := xml.NewDecoder(bytes.NewReader(svg))
		polylines, texts := 0, 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%d points: not well-formed XML: %v\n%s", len(series), err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok {
				switch se.Name.Local {
				case "polyline":
					polylines++
				case "text":
					texts++
				}
			}
		}
		want := 4
		if len(series) == 0 {
			want = 0
		}
		if polylines != want || texts < 10 || !bytes.Contains(svg, []byte("&lt;32 clients&gt; &amp;")) {
			t.Errorf("%d points: %d polylines, %d texts", len(series), polylines, texts)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.5: 2, 3: 5, 7: 10, 230: 500, 1200: 2000} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

func TestParseDBMetrics(t *testing.T) {
	text := `# HELP escrowd_db_transactions_total Write transactions by outcome (committed, failed).
# TYPE escrowd_db_transactions_total counter
escrowd_db_transactions_total{outcome="committed"} 4786
escrowd_db_transactions_total{outcome="rejected"} 12
escrowd_db_transactions_total{outcome="failed"} 79
escrowd_db_transaction_retries_total{phase="body",sqlstate="40001"} 3191
escrowd_db_transaction_retries_total{phase="commit",sqlstate="40001"} 211
# TYPE escrowd_db_transaction_serial_attempts_total counter
escrowd_db_transaction_serial_attempts_total 7
escrowd_http_requests_total{route="/v1/escrows",status="201"} 12
`
	c, ok := parseDBMetrics([]byte(text))
	if !ok || c.Committed != 4786 || c.Rejected != 12 || c.Failed != 79 || c.Retries["40001 body"] != 3191 || c.RetriesTotal() != 3402 || c.Serial != 7 {
		t.Fatalf("%+v %v", c, ok)
	}
	before := DBCounters{Committed: 786, Failed: 79, Serial: 2, Retries: map[string]int64{"40001 body": 191, "40001 commit": 211}}
	d := c.sub(before)
	if d.Committed != 4000 || d.Failed != 0 || d.Serial != 5 || d.Retries["40001 body"] != 3000 || len(d.Retries) != 1 {
		t.Errorf("difference: %+v", d)
	}
	if _, ok := parseDBMetrics([]byte("go_goroutines 12\n")); ok {
		t.Error("counters found where there are none")
	}
}

func TestRSS(t *testing.T) {
	status := "Name:\tescrowd\nVmPeak:\t  900000 kB\nVmRSS:\t  123456 kB\nThreads:\t12\n"
	if got := parseVmRSS([]byte(status)); got != 123456<<10 {
		t.Errorf("parseVmRSS = %d", got)
	}
	if parseVmRSS([]byte("Name: x\n")) != 0 || parseVmRSS([]byte("VmRSS: 12 MB\n")) != 0 {
		t.Error("a bad status file gave a value")
	}
	if _, err := os.Stat("/proc/self/status"); err == nil {
		if rss := ProcRSS(0)(); rss < 1<<20 {
			t.Errorf("this process's RSS: %d", rss)
		}
		if ProcRSS(1<<30)() != 0 {
			t.Error("RSS of a process that does not exist")
		}
	}
}
