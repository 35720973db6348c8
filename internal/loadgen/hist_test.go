package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := int64(-1)
	for i := range histBuckets {
		hi := bucketHigh(i)
		if hi <= prev {
			t.Fatalf("bucket %d: high %d not above the previous %d", i, hi, prev)
		}
		// every value in (prev, hi] falls in bucket i
		for _, v := range []int64{prev + 1, (prev + 1 + hi) / 2, hi} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		// the relative width of a bucket stays under 1/histSub
		if lo := prev + 1; lo >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d [%d, %d] is too wide", i, lo, hi)
		}
		prev = hi
	}
	if bucketOf(1<<62) != histBuckets-1 {
		t.Fatal("a huge value is not in the last bucket")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram")
	}
	r := rand.New(rand.NewPCG(1, 2))
	var exact []time.Duration
	for range 100000 {
		// log-normal around 5 ms, like request latencies
		d := time.Duration(5000*r.ExpFloat64()*r.ExpFloat64()) * time.Microsecond
		exact = append(exact, d)
		h.Record(d)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		want := exact[int(q*float64(len(exact)))-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff < -0.01 || diff > 0.01 {
			t.Errorf("q%.3f = %s, exact %s (%.2f%%)", q, got, want, 100*diff)
		}
	}
	if h.Max() != exact[len(exact)-1].Truncate(time.Microsecond) || h.Quantile(1) != h.Max() {
		t.Errorf("max %s, q1 %s, exact %s", h.Max(), h.Quantile(1), exact[len(exact)-1])
	}
	if h.Count() != 100000 {
		t.Errorf("count %d", h.Count())
	}
}

func TestHistogramMergeAndReset(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %s, whole %s", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != 1000 || a.Max() != time.Second || a.Mean() != all.Mean() {
		t.Errorf("merged: count %d max %s mean %s", a.Count(), a.Max(), a.Mean())
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(0.5) != 0 {
		t.Error("reset left counts")
	}
	// one sample: every quantile is it
	a.Record(1234 * time.Microsecond)
	if a.Quantile(0.01) != 1234*time.Microsecond || a.Quantile(0.99) != 1234*time.Microsecond {
		t.Errorf("single sample: %s %s", a.Quantile(0.01), a.Quantile(0.99))
	}
}
