package loadgen

import (
	"math/bits"
	"time"
)

// Histogram layout: values are microseconds; below 2·histSub they are
// counted exactly, above in histSub sub-buckets per power of two (HDR
// style), so a quantile is within 1/histSub (< 0.8%) of the true value and
// the memory is fixed whatever the run's length.
const (
	histSubBits  = 7
	histSub      = 1 << histSubBits
	histMaxShift = 32 // values up to 2^(histSubBits+1+histMaxShift) µs, far beyond any timeout
	histBuckets  = 2*histSub + histMaxShift*histSub
)

// Histogram counts latencies in fixed memory (32 KiB). The zero value is
// empty and ready; it is not safe for concurrent use (Recorder locks).
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64 // µs
	min    int64   // µs
	max    int64   // µs
}

// bucketOf returns the bucket of v µs (v ≥ 0).
func bucketOf(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1)
	if shift > histMaxShift {
		return histBuckets - 1
	}
	top := int(v >> shift) // histSub ≤ top < 2·histSub
	return 2*histSub + (shift-1)*histSub + top - histSub
}

// bucketHigh returns the highest value counted in bucket i.
func bucketHigh(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	top := int64((i-2*histSub)%histSub + histSub)
	return (top+1)<<shift - 1
}

// Record counts one latency.
func (h *Histogram) Record(d time.Duration) {
	v := max(d.Microseconds(), 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += float64(v)
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest latency recorded (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the average latency.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/float64(h.n)) * time.Microsecond
}

// Quantile returns the latency at or below which a fraction q (0..1] of
// the recorded latencies lie: the top of the bucket holding that rank,
// capped at the exact maximum. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max)) * time.Microsecond
		}
	}
	return h.Max()
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
