package reconcile

import (
	"cmp"
	"fmt"
	"slices"
)

// Matching rules, in the order they run; each match records its rule.
const (
	// RuleReference: a line's EndToEndId, AcctSvcrRef or reference equals
	// a posting's entry reference or one of its reference metadata values
	// (payment_ref, batch_ref, psp_ref), and the amounts are equal.
	RuleReference = "reference"
	// RuleAmountDate: equal amount, dates at most the window apart.
	RuleAmountDate = "amount_date"
	// RuleOneToMany: one line equals the sum of several postings (a PSP
	// payout batch): postings sharing the line's reference, all open
	// postings of one day, or a bounded subset-sum search when at most
	// MaxCandidates open postings lie in the window.
	RuleOneToMany = "one_to_many"
	// RuleManyToOne: several lines equal one posting.
	RuleManyToOne = "many_to_one"
	// RuleFeeTolerance: amounts differ by at most the run's fee tolerance,
	// dates within the window (only when a tolerance is given).
	RuleFeeTolerance = "fee_tolerance"
	// RuleManual: matched by hand.
	RuleManual = "manual"
)

// Rules lists the automatic rules in the order they run.
var Rules = []string{RuleReference, RuleAmountDate, RuleOneToMany, RuleManyToOne, RuleFeeTolerance}

// Limits of the matcher, so that its work is bounded whatever the input.
const (
	// DefaultWindowDays is the date window of rules 2 to 4 (± days).
	DefaultWindowDays = 3
	// MaxWindowDays bounds the date window.
	MaxWindowDays = 31
	// MaxGroupSize bounds the items a subset-sum search combines.
	MaxGroupSize = 5
	// MaxCandidates bounds the candidates one subset-sum search looks at.
	MaxCandidates = 16
	// MaxBatchItems bounds the items of a group taken whole without search
	// (postings sharing a reference, the open postings of one day).
	MaxBatchItems = 1000
	// MaxStepsPerItem bounds the search steps spent on one line or posting.
	MaxStepsPerItem = 5000
	// MaxSearchSteps bounds the search steps of one run; past it the
	// subset-sum search stops and the run says so (SearchTruncated).
	MaxSearchSteps = 5_000_000
)

// MatchConfig are a matcher's parameters.
type MatchConfig struct {
	WindowDays int
	// FeeTolerance in units of 0.0001; 0 turns the fee rule off.
	FeeTolerance int64
}

// mLine is a statement line as the matcher sees it: amount in units of
// 0.0001 (signed, money in positive), day number, and its group.
type mLine struct {
	amount int64
	day    int32
	ok     bool  // amount representable in units; otherwise never matched automatically
	group  int32 // index into matcher.groups, -1 while unmatched
}

// mPosting is a ledger posting as the matcher sees it: amount signed
// (debit, money into the account, positive).
type mPosting struct {
	amount int64
	day    int32
	group  int32
	// unmatchable: the amount is too large for units (see maxUnits); the
	// posting is never matched automatically, and stays unmatched.
	unmatchable bool
}

// mGroup is one match found: indices of lines and postings.
type mGroup struct {
	rule     string
	lines    []int32
	postings []int32
	// difference is line total - posting total, in units.
	difference int64
}

// refSplit is a posting that shares a reference with lines it does not
// equal one by one: candidates for many-to-one.
type refSplit struct {
	posting int32
	lines   []int32
}

// matcher is the in-memory, index-based core of a run. Lines are added
// first (addLine) and indexed by reference; postings are then streamed in
// (addPosting), which applies the reference rule at once and keeps only a
// few numbers per posting; finish applies the other rules with indexes by
// amount and by day.
type matcher struct {
	cfg      MatchConfig
	lines    []mLine
	postings []mPosting
	groups   []mGroup

	lineRefs map[string][]int32 // reference → lines carrying it
	refBatch map[int32][]int32  // line → postings sharing a reference, smaller and of the same sign
	refSplit []refSplit

	// Day indexes, built by finish: items ordered by (day, amount), with
	// the offset of each day's first item.
	minDay             int32
	pOrder, pDayStart  []int32
	lOrder, lDayStart  []int32
	pDaySum, pDayCount [2][]int64 // open postings per day and sign (0: in, 1: out)
	lDayCount          [2][]int64 // open matchable lines per day and sign

	steps     int
	truncated bool
	// err is the first group addGroup refused (an item in two groups, or
	// twice in one): a bug in a rule, which the run reports as an error.
	err error
}

func newMatcher(cfg MatchConfig) *matcher {
	if cfg.WindowDays < 0 {
		cfg.WindowDays = 0
	}
	return &matcher{cfg: cfg, lineRefs: map[string][]int32{}, refBatch: map[int32][]int32{}}
}

// addLine adds a statement line with its references (empty ones ignored).
func (m *matcher) addLine(amount int64, ok bool, day int32, refs ...string) int32 {
	i := int32(len(m.lines))
	m.lines = append(m.lines, mLine{amount: amount, day: day, ok: ok && amount != 0, group: -1})
	for j, r := range refs {
		if r == "" || slices.Contains(refs[:j], r) {
			continue
		}
		m.lineRefs[r] = append(m.lineRefs[r], i)
	}
	return i
}

// addPosting adds a posting with its references and applies the
// reference rule: the first open line that shares a reference and the
// amount is matched with it. A line sharing several references with the
// posting is one candidate, not one per reference.
func (m *matcher) addPosting(amount int64, day int32, refs ...string) int32 {
	pi := int32(len(m.postings))
	m.postings = append(m.postings, mPosting{amount: amount, day: day, group: -1})
	var hits []int32
	for j, r := range refs {
		if r == "" || slices.Contains(refs[:j], r) {
			continue
		}
		for _, li := range m.lineRefs[r] {
			l := &m.lines[li]
			if l.group >= 0 || !l.ok {
				continue
			}
			if l.amount == amount {
				m.addGroup(RuleReference, []int32{li}, []int32{pi})
				return pi
			}
			hits = append(hits, li)
		}
	}
	if len(hits) > 1 {
		slices.Sort(hits)
		hits = slices.Compact(hits)
	}
	var split []int32
	for _, li := range hits {
		l := m.lines[li]
		switch {
		case !sameSign(l.amount, amount):
		case abs(amount) < abs(l.amount):
			if b := m.refBatch[li]; len(b) < MaxBatchItems {
				m.refBatch[li] = append(b, pi)
			}
		case len(split) < MaxBatchItems:
			split = append(split, li)
		}
	}
	if len(split) > 0 {
		m.refSplit = append(m.refSplit, refSplit{posting: pi, lines: split})
	}
	return pi
}

// addUnmatchablePosting adds a posting whose amount the matcher cannot
// hold in units (|amount| >= maxUnits): no rule sees it, so it stays
// unmatched and is counted as such; finance can still match it by hand.
func (m *matcher) addUnmatchablePosting(day int32) int32 {
	pi := int32(len(m.postings))
	m.postings = append(m.postings, mPosting{day: day, group: -1, unmatchable: true})
	return pi
}

// finish applies rules 2 to 4 to what the reference rule left open.
func (m *matcher) finish() {
	m.buildDayIndexes()
	m.amountDate()
	m.oneToMany()
	m.manyToOne()
	if m.cfg.FeeTolerance > 0 {
		m.feeTolerance()
	}
}

// addGroup records a match of lines and postings, each of which must be
// open and listed once. A group that breaks this is refused, and the first
// one refused is kept in m.err: stored, it would count an item twice and
// claim it twice.
func (m *matcher) addGroup(rule string, lines, postings []int32) {
	g := int32(len(m.groups))
	if err := m.claim(g, lines, postings); err != nil {
		if m.err == nil {
			m.err = fmt.Errorf("reconcile: %s match refused: %w", rule, err)
		}
		return
	}
	var lt, pt int64
	for _, li := range lines {
		l := &m.lines[li]
		lt += l.amount
		if m.lDayCount[0] != nil {
			m.lDayCount[signIndex(l.amount)][l.day-m.minDay]--
		}
	}
	for _, pi := range postings {
		p := &m.postings[pi]
		pt += p.amount
		if m.pDaySum[0] != nil {
			s, d := signIndex(p.amount), p.day-m.minDay
			m.pDaySum[s][d] -= p.amount
			m.pDayCount[s][d]--
		}
	}
	m.groups = append(m.groups, mGroup{rule: rule, lines: lines, postings: postings, difference: lt - pt})
}

// claim sets the group of lines and postings to g. An item in a group
// already (another one, or g when listed twice) undoes the claims made and
// is an error.
func (m *matcher) claim(g int32, lines, postings []int32) error {
	for i, li := range lines {
		if m.lines[li].group >= 0 {
			m.unclaim(lines[:i], nil)
			return fmt.Errorf("statement line %d is twice in the group or in another one", li)
		}
		m.lines[li].group = g
	}
	for i, pi := range postings {
		if m.postings[pi].group >= 0 {
			m.unclaim(lines, postings[:i])
			return fmt.Errorf("posting %d is twice in the group or in another one", pi)
		}
		m.postings[pi].group = g
	}
	return nil
}

func (m *matcher) unclaim(lines, postings []int32) {
	for _, li := range lines {
		m.lines[li].group = -1
	}
	for _, pi := range postings {
		m.postings[pi].group = -1
	}
}

// buildDayIndexes orders postings and lines by (day, amount) with a
// counting sort by day, and counts the open items per day and sign.
func (m *matcher) buildDayIndexes() {
	if len(m.postings) == 0 && len(m.lines) == 0 {
		return
	}
	lo, hi := int32(1<<31-1), int32(-1<<31)
	for _, p := range m.postings {
		lo, hi = min(lo, p.day), max(hi, p.day)
	}
	for _, l := range m.lines {
		lo, hi = min(lo, l.day), max(hi, l.day)
	}
	m.minDay = lo
	span := int(hi-lo) + 1
	// Unmatchable postings are left out of the day index, which every
	// rule after the reference rule reads postings through.
	m.pOrder, m.pDayStart = orderByDay(len(m.postings), span, func(i int) int32 { return m.postings[i].day - lo },
		func(i int) bool { return !m.postings[i].unmatchable },
		func(a, b int32) int { return cmp.Compare(m.postings[a].amount, m.postings[b].amount) })
	m.lOrder, m.lDayStart = orderByDay(len(m.lines), span, func(i int) int32 { return m.lines[i].day - lo }, nil,
		func(a, b int32) int { return cmp.Compare(m.lines[a].amount, m.lines[b].amount) })
	for s := range 2 {
		m.pDaySum[s], m.pDayCount[s], m.lDayCount[s] = make([]int64, span), make([]int64, span), make([]int64, span)
	}
	for _, p := range m.postings {
		if p.group < 0 && !p.unmatchable {
			s := signIndex(p.amount)
			m.pDaySum[s][p.day-lo] += p.amount
			m.pDayCount[s][p.day-lo]++
		}
	}
	for _, l := range m.lines {
		if l.group < 0 && l.ok {
			m.lDayCount[signIndex(l.amount)][l.day-lo]++
		}
	}
}

// orderByDay returns the indices 0..n-1 that keep accepts (all when keep
// is nil) ordered by day (then by less, then by index) and the start
// offset of each day (len span+1).
func orderByDay(n, span int, day func(int) int32, keep func(int) bool, less func(a, b int32) int) ([]int32, []int32) {
	start := make([]int32, span+1)
	for i := range n {
		if keep == nil || keep(i) {
			start[day(i)+1]++
		}
	}
	for d := 1; d <= span; d++ {
		start[d] += start[d-1]
	}
	order := make([]int32, start[span])
	next := slices.Clone(start[:span])
	for i := range n {
		if keep != nil && !keep(i) {
			continue
		}
		d := day(i)
		order[next[d]] = int32(i)
		next[d]++
	}
	for d := range span {
		seg := order[start[d]:start[d+1]]
		if len(seg) > 1 {
			slices.SortFunc(seg, func(a, b int32) int {
				if c := less(a, b); c != 0 {
					return c
				}
				return cmp.Compare(a, b)
			})
		}
	}
	return order, start
}

// dayOffsets are the day offsets of the window in the order they are
// tried: the same day, then a day later, a day earlier, two days later...
// (the bank usually books after the ledger).
func (m *matcher) dayOffsets() []int32 {
	w := int32(m.cfg.WindowDays)
	out := []int32{0}
	for d := int32(1); d <= w; d++ {
		out = append(out, d, -d)
	}
	return out
}

// daySlot returns the index of day+off into the day arrays, or false if
// outside them.
func (m *matcher) daySlot(day, off int32) (int32, bool) {
	d := day + off - m.minDay
	return d, d >= 0 && int(d) < len(m.pDayStart)-1
}

// amountDate is rule 2: for each open posting in day order, the open line
// with the same amount whose date is nearest within the window.
func (m *matcher) amountDate() {
	type key struct {
		amount int64
		day    int32
	}
	type queue struct {
		lines []int32
		head  int
	}
	byKey := map[key]*queue{}
	for i, l := range m.lines {
		if l.group >= 0 || !l.ok {
			continue
		}
		k := key{l.amount, l.day}
		q := byKey[k]
		if q == nil {
			q = &queue{}
			byKey[k] = q
		}
		q.lines = append(q.lines, int32(i))
	}
	if len(byKey) == 0 {
		return
	}
	offs := m.dayOffsets()
	for _, pi := range m.pOrder {
		p := m.postings[pi]
		if p.group >= 0 {
			continue
		}
		for _, off := range offs {
			q := byKey[key{p.amount, p.day + off}]
			if q == nil {
				continue
			}
			for q.head < len(q.lines) && m.lines[q.lines[q.head]].group >= 0 {
				q.head++
			}
			if q.head < len(q.lines) {
				li := q.lines[q.head]
				q.head++
				m.addGroup(RuleAmountDate, []int32{li}, []int32{pi})
				break
			}
		}
	}
}

// oneToMany is rule 3 for lines: an open line equal to the sum of open
// postings sharing its reference, to all open postings of one day in the
// window, or to a subset found by a bounded search among the nearest.
func (m *matcher) oneToMany() {
	offs := m.dayOffsets()
	for _, li := range m.lOrder {
		l := m.lines[li]
		if l.group >= 0 || !l.ok {
			continue
		}
		if cands := m.openPostings(m.refBatch[li]); len(cands) >= 2 {
			if sumPostings(m, cands) == l.amount {
				m.addGroup(RuleOneToMany, []int32{li}, cands)
				continue
			}
			if len(cands) <= MaxCandidates {
				if pick := m.searchPostings(l.amount, cands); pick != nil {
					m.addGroup(RuleOneToMany, []int32{li}, pick)
					continue
				}
			}
		}
		if m.dayBatch(li, offs) {
			continue
		}
		s := signIndex(l.amount)
		if m.truncated || !m.searchable(m.pDayCount[s], l.day, offs) {
			continue
		}
		var cands []int32
		for _, off := range offs {
			d, ok := m.daySlot(l.day, off)
			if !ok || m.pDayCount[s][d] == 0 {
				continue
			}
			for _, pi := range m.pOrder[m.pDayStart[d]:m.pDayStart[d+1]] {
				p := m.postings[pi]
				if p.group < 0 && sameSign(p.amount, l.amount) && abs(p.amount) < abs(l.amount) {
					cands = append(cands, pi)
					if len(cands) == MaxCandidates {
						break
					}
				}
			}
			if len(cands) == MaxCandidates {
				break
			}
		}
		if len(cands) >= 2 {
			if pick := m.searchPostings(l.amount, cands); pick != nil {
				m.addGroup(RuleOneToMany, []int32{li}, pick)
			}
		}
	}
}

// searchable tells whether the open items of one sign in the window
// around day (counted per day in open) are few enough, 2 to MaxCandidates,
// for a subset-sum search among them. Among more, a sum that happens to fit
// says little (many subsets reach many amounts), so none is guessed.
func (m *matcher) searchable(open []int64, day int32, offs []int32) bool {
	n := int64(0)
	for _, off := range offs {
		if d, ok := m.daySlot(day, off); ok {
			n += open[d]
		}
	}
	return n >= 2 && n <= MaxCandidates
}

// dayBatch matches line li with all open postings of one day of the
// window (same sign) when they sum to its amount.
func (m *matcher) dayBatch(li int32, offs []int32) bool {
	l := m.lines[li]
	s := signIndex(l.amount)
	for _, off := range offs {
		d, ok := m.daySlot(l.day, off)
		if !ok {
			continue
		}
		if n := m.pDayCount[s][d]; n < 2 || n > MaxBatchItems || m.pDaySum[s][d] != l.amount {
			continue
		}
		var batch []int32
		for _, pi := range m.pOrder[m.pDayStart[d]:m.pDayStart[d+1]] {
			p := m.postings[pi]
			if p.group < 0 && signIndex(p.amount) == s {
				batch = append(batch, pi)
			}
		}
		m.addGroup(RuleOneToMany, []int32{li}, batch)
		return true
	}
	return false
}

// manyToOne is rule 3 for postings: an open posting equal to the sum of
// open lines sharing its reference, or of a subset found by a bounded
// search among the nearest open lines.
func (m *matcher) manyToOne() {
	for _, rs := range m.refSplit {
		p := m.postings[rs.posting]
		if p.group >= 0 {
			continue
		}
		cands := m.openLines(rs.lines)
		if len(cands) < 2 {
			continue
		}
		if sumLines(m, cands) == p.amount {
			m.addGroup(RuleManyToOne, cands, []int32{rs.posting})
			continue
		}
		if len(cands) <= MaxCandidates {
			if pick := m.searchLines(p.amount, cands); pick != nil {
				m.addGroup(RuleManyToOne, pick, []int32{rs.posting})
			}
		}
	}
	offs := m.dayOffsets()
	for _, pi := range m.pOrder {
		if m.truncated {
			return
		}
		p := m.postings[pi]
		if p.group >= 0 || p.amount == 0 {
			continue
		}
		s := signIndex(p.amount)
		if !m.searchable(m.lDayCount[s], p.day, offs) {
			continue
		}
		var cands []int32
		for _, off := range offs {
			d, ok := m.daySlot(p.day, off)
			if !ok || m.lDayCount[s][d] == 0 {
				continue
			}
			for _, li := range m.lOrder[m.lDayStart[d]:m.lDayStart[d+1]] {
				l := m.lines[li]
				if l.group < 0 && l.ok && sameSign(l.amount, p.amount) && abs(l.amount) < abs(p.amount) {
					cands = append(cands, li)
					if len(cands) == MaxCandidates {
						break
					}
				}
			}
			if len(cands) == MaxCandidates {
				break
			}
		}
		if len(cands) >= 2 {
			if pick := m.searchLines(p.amount, cands); pick != nil {
				m.addGroup(RuleManyToOne, pick, []int32{pi})
			}
		}
	}
}

// feeTolerance is rule 4: for each open line, the open posting of the
// same sign within the window whose amount differs least, by at most the
// tolerance (ties: the nearer date).
func (m *matcher) feeTolerance() {
	tol := m.cfg.FeeTolerance
	offs := m.dayOffsets()
	for _, li := range m.lOrder {
		l := m.lines[li]
		if l.group >= 0 || !l.ok {
			continue
		}
		best, bestDiff := int32(-1), int64(-1)
		for _, off := range offs {
			d, ok := m.daySlot(l.day, off)
			if !ok || m.pDayCount[signIndex(l.amount)][d] == 0 {
				continue
			}
			seg := m.pOrder[m.pDayStart[d]:m.pDayStart[d+1]]
			lo := l.amount - tol
			i, _ := slices.BinarySearchFunc(seg, lo, func(pi int32, t int64) int { return cmp.Compare(m.postings[pi].amount, t) })
			for ; i < len(seg); i++ {
				p := m.postings[seg[i]]
				if p.amount > l.amount+tol {
					break
				}
				if p.group >= 0 || !sameSign(p.amount, l.amount) {
					continue
				}
				if diff := abs(p.amount - l.amount); bestDiff < 0 || diff < bestDiff {
					best, bestDiff = seg[i], diff
				}
			}
		}
		if best >= 0 {
			m.addGroup(RuleFeeTolerance, []int32{li}, []int32{best})
		}
	}
}

func (m *matcher) openPostings(ps []int32) []int32 {
	var out []int32
	for _, pi := range ps {
		if m.postings[pi].group < 0 {
			out = append(out, pi)
		}
	}
	return out
}

func (m *matcher) openLines(ls []int32) []int32 {
	var out []int32
	for _, li := range ls {
		if m.lines[li].group < 0 && m.lines[li].ok {
			out = append(out, li)
		}
	}
	return out
}

func sumPostings(m *matcher, ps []int32) int64 {
	var s int64
	for _, pi := range ps {
		s += m.postings[pi].amount
	}
	return s
}

func sumLines(m *matcher, ls []int32) int64 {
	var s int64
	for _, li := range ls {
		s += m.lines[li].amount
	}
	return s
}

func (m *matcher) searchPostings(target int64, cands []int32) []int32 {
	amts := make([]int64, len(cands))
	for i, pi := range cands {
		amts[i] = m.postings[pi].amount
	}
	return pickIndices(cands, m.subsetSum(target, amts))
}

func (m *matcher) searchLines(target int64, cands []int32) []int32 {
	amts := make([]int64, len(cands))
	for i, li := range cands {
		amts[i] = m.lines[li].amount
	}
	return pickIndices(cands, m.subsetSum(target, amts))
}

func pickIndices(items []int32, pick []int) []int32 {
	if pick == nil {
		return nil
	}
	out := make([]int32, len(pick))
	for i, j := range pick {
		out[i] = items[j]
	}
	slices.Sort(out)
	return out
}

// subsetSum looks for 2..MaxGroupSize of amts (all of target's sign)
// summing to target exactly: a depth-first search over the amounts in
// decreasing size, pruned by the sums still reachable, spending at most
// MaxStepsPerItem steps and what is left of MaxSearchSteps. It returns
// the indices into amts, or nil.
func (m *matcher) subsetSum(target int64, amts []int64) []int {
	n := len(amts)
	if n < 2 || target == 0 {
		return nil
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	a := make([]int64, n)
	for i, v := range amts {
		a[i] = abs(v)
	}
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(a[y], a[x]) })
	sorted := make([]int64, n)
	for i, j := range order {
		sorted[i] = a[j]
	}
	// prefix[i] = sum of sorted[:i]: the largest k items from i sum to prefix[i+k]-prefix[i].
	prefix := make([]int64, n+1)
	for i, v := range sorted {
		prefix[i+1] = prefix[i] + v
	}
	goal := abs(target)
	if prefix[n] < goal {
		return nil
	}
	budget := MaxStepsPerItem
	pick := make([]int, 0, MaxGroupSize)
	var dfs func(i int, rem int64) bool
	dfs = func(i int, rem int64) bool {
		if rem == 0 {
			return len(pick) >= 2
		}
		left := MaxGroupSize - len(pick)
		if left == 0 || i >= n {
			return false
		}
		if prefix[min(n, i+left)]-prefix[i] < rem { // even the largest left items fall short
			return false
		}
		for j := i; j < n; j++ {
			if m.steps >= MaxSearchSteps {
				m.truncated = true
				return false
			}
			if budget == 0 {
				return false
			}
			budget--
			m.steps++
			if sorted[j] > rem {
				continue
			}
			if prefix[min(n, j+left)]-prefix[j] < rem {
				return false
			}
			pick = append(pick, j)
			if dfs(j+1, rem-sorted[j]) {
				return true
			}
			pick = pick[:len(pick)-1]
		}
		return false
	}
	if !dfs(0, goal) {
		return nil
	}
	out := make([]int, len(pick))
	for i, j := range pick {
		out[i] = order[j]
	}
	return out
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func sameSign(a, b int64) bool { return (a > 0 && b > 0) || (a < 0 && b < 0) }

// signIndex is 0 for money in (>= 0), 1 for money out.
func signIndex(x int64) int {
	if x < 0 {
		return 1
	}
	return 0
}
