package reconcile

import (
	"fmt"
	"slices"
	"testing"
)

// u is an amount in matcher units (0.0001).
func u(cents int64) int64 { return cents * 100 }

type wantGroup struct {
	rule     string
	lines    []int32
	postings []int32
}

func groupsOf(m *matcher) []wantGroup {
	var out []wantGroup
	for _, g := range m.groups {
		l, p := slices.Clone(g.lines), slices.Clone(g.postings)
		slices.Sort(l)
		slices.Sort(p)
		out = append(out, wantGroup{g.rule, l, p})
	}
	return out
}

func TestMatcherRules(t *testing.T) {
	tests := []struct {
		name     string
		cfg      MatchConfig
		lines    func(m *matcher)
		postings func(m *matcher)
		want     []wantGroup
	}{
		{
			name: "reference and amount; a reference with another amount is not enough",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(1000), true, 100, "E2E-1", "", "")
				m.addLine(u(2000), true, 100, "", "", "pay-2")
			},
			postings: func(m *matcher) {
				m.addPosting(u(1000), 90, "escrow:x:fund:E2E-1", fundingRef("escrow:x:fund:E2E-1")) // dates far apart: the reference decides
				m.addPosting(u(2500), 100, "ref", "pay-2")                                          // same reference, other amount
			},
			want: []wantGroup{{RuleReference, []int32{0}, []int32{0}}},
		},
		{
			name: "amount and date within the window, nearest first",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(500), true, 100)
				m.addLine(u(500), true, 110)
				m.addLine(u(-700), true, 100)
			},
			postings: func(m *matcher) {
				m.addPosting(u(500), 104)  // 4 days from line 0, 6 from line 1: outside
				m.addPosting(u(500), 108)  // 2 days before line 1
				m.addPosting(u(-700), 101) // money out
				m.addPosting(u(700), 100)  // wrong sign
			},
			want: []wantGroup{{RuleAmountDate, []int32{2}, []int32{2}}, {RuleAmountDate, []int32{1}, []int32{1}}},
		},
		{
			name: "one line = several postings (search), several lines = one posting (reference)",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(60060), true, 100, "", "", "PAYOUT-1")
				m.addLine(u(10000), true, 100, "", "", "split")
				m.addLine(u(20000), true, 101, "", "", "split")
			},
			postings: func(m *matcher) {
				m.addPosting(u(10010), 99)
				m.addPosting(u(20020), 99)
				m.addPosting(u(30030), 98)
				m.addPosting(u(7777), 99)
				m.addPosting(u(30000), 100, "split")
			},
			want: []wantGroup{{RuleOneToMany, []int32{0}, []int32{0, 1, 2}}, {RuleManyToOne, []int32{1, 2}, []int32{4}}},
		},
		{
			name: "one line = the postings sharing its reference (batch); = all postings of a day",
			cfg:  MatchConfig{WindowDays: 1},
			lines: func(m *matcher) {
				m.addLine(u(600), true, 100, "BATCH-9")
				m.addLine(u(-1500), true, 200)
			},
			postings: func(m *matcher) {
				for range 6 {
					m.addPosting(u(100), 95, "x", "BATCH-9")
				}
				m.addPosting(u(-500), 201)
				m.addPosting(u(-500), 201)
				m.addPosting(u(-500), 201)
				m.addPosting(u(900), 201)
			},
			want: []wantGroup{{RuleOneToMany, []int32{0}, []int32{0, 1, 2, 3, 4, 5}}, {RuleOneToMany, []int32{1}, []int32{6, 7, 8}}},
		},
		{
			// EndToEndId = payment_ref and AcctSvcrRef = psp_ref: the line
			// is one item of the posting's batch, not two.
			name: "a line sharing two references with a larger posting counts once",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(10000), true, 100, "PO-1", "ST-77", "")
			},
			postings: func(m *matcher) {
				m.addPosting(u(20000), 100, "payout:1", "PO-1", "", "ST-77")
			},
		},
		{
			name: "a posting sharing two references with a larger line counts once",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(20000), true, 100, "PO-1", "ST-77", "")
			},
			postings: func(m *matcher) {
				m.addPosting(u(10000), 100, "payout:1", "PO-1", "", "ST-77")
			},
		},
		{
			name: "two lines sharing both references with a posting: many-to-one of the two",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(10000), true, 100, "PO-1", "ST-77", "")
				m.addLine(u(10000), true, 100, "PO-1", "ST-77", "")
			},
			postings: func(m *matcher) {
				m.addPosting(u(20000), 100, "payout:1", "PO-1", "", "ST-77")
			},
			want: []wantGroup{{RuleManyToOne, []int32{0, 1}, []int32{0}}},
		},
		{
			name: "fee tolerance: the closest amount within the tolerance",
			cfg:  MatchConfig{WindowDays: 3, FeeTolerance: u(200)},
			lines: func(m *matcher) {
				m.addLine(u(49850), true, 100)
				m.addLine(u(4200), true, 100)
				m.addLine(u(12345), false, 100) // not representable: never matched
			},
			postings: func(m *matcher) {
				m.addPosting(u(50100), 100)
				m.addPosting(u(50000), 102)
				m.addPosting(u(12345), 100)
			},
			want: []wantGroup{{RuleFeeTolerance, []int32{0}, []int32{1}}},
		},
		{
			name: "a posting too large for units is in no day batch",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(30000), true, 100)
			},
			postings: func(m *matcher) {
				m.addPosting(u(10000), 100)
				m.addPosting(u(20000), 100)
				m.addUnmatchablePosting(100)
			},
			want: []wantGroup{{RuleOneToMany, []int32{0}, []int32{0, 1}}},
		},
		{
			// A full day batch: counted in the day's postings, the
			// unmatchable one would push it over MaxBatchItems.
			name: "an unmatchable posting does not count in a day batch",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(MaxBatchItems), true, 100)
			},
			postings: func(m *matcher) {
				for range MaxBatchItems {
					m.addPosting(u(1), 100)
				}
				m.addUnmatchablePosting(100)
			},
			want: []wantGroup{{RuleOneToMany, []int32{0}, firstPostings(MaxBatchItems)}},
		},
		{
			name: "no fee rule without a tolerance",
			cfg:  MatchConfig{WindowDays: 3},
			lines: func(m *matcher) {
				m.addLine(u(49850), true, 100)
			},
			postings: func(m *matcher) {
				m.addPosting(u(50000), 100)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMatcher(tc.cfg)
			tc.lines(m)
			tc.postings(m)
			m.finish()
			if m.err != nil {
				t.Fatal(m.err)
			}
			got := groupsOf(m)
			if len(got) != len(tc.want) {
				t.Fatalf("groups = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].rule != tc.want[i].rule || !slices.Equal(got[i].lines, tc.want[i].lines) || !slices.Equal(got[i].postings, tc.want[i].postings) {
					t.Errorf("group %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			for _, g := range m.groups {
				if g.rule != RuleFeeTolerance && g.difference != 0 {
					t.Errorf("group %+v has a difference", g)
				}
			}
		})
	}
}

// TestAddGroupRefusesRepeatedItems: a group listing an item twice, or an
// item of another group, is refused whole and reported in m.err.
func TestAddGroupRefusesRepeatedItems(t *testing.T) {
	tests := []struct {
		name            string
		lines, postings []int32
	}{
		{"line twice", []int32{0, 0}, []int32{1}},
		{"posting twice", []int32{1}, []int32{1, 1}},
		{"line of another group", []int32{1, 2}, []int32{1}},
		{"posting of another group", []int32{1}, []int32{1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMatcher(MatchConfig{WindowDays: 3})
			for range 3 {
				m.addLine(u(100), true, 100)
				m.addPosting(u(100), 100)
			}
			m.addGroup(RuleAmountDate, []int32{2}, []int32{0})
			m.addGroup(RuleManyToOne, tc.lines, tc.postings)
			if m.err == nil || len(m.groups) != 1 {
				t.Fatalf("err %v, groups %+v", m.err, m.groups)
			}
			for i, l := range m.lines {
				if want := map[bool]int32{true: 0, false: -1}[i == 2]; l.group != want {
					t.Errorf("line %d: group %d, want %d", i, l.group, want)
				}
			}
			for i, p := range m.postings {
				if want := map[bool]int32{true: 0, false: -1}[i == 0]; p.group != want {
					t.Errorf("posting %d: group %d, want %d", i, p.group, want)
				}
			}
		})
	}
}

// TestSubsetSearchIsBounded: a target no subset reaches, among the most
// candidates, spends at most MaxStepsPerItem steps; the run's budget
// stops the search and says so.
func TestSubsetSearchIsBounded(t *testing.T) {
	m := newMatcher(MatchConfig{WindowDays: 3})
	amts := make([]int64, MaxCandidates)
	for i := range amts {
		amts[i] = int64(1000 + 2*i) // even: an odd target is out of reach
	}
	if got := m.subsetSum(5001, amts); got != nil {
		t.Fatalf("found %v", got)
	}
	if m.steps > MaxStepsPerItem {
		t.Fatalf("%d steps for one item, limit %d", m.steps, MaxStepsPerItem)
	}
	if got := m.subsetSum(1000+1002+1004, amts); len(got) != 3 {
		t.Fatalf("subset = %v", got)
	}
	m.steps = MaxSearchSteps
	if got := m.subsetSum(2002, amts); got != nil || !m.truncated {
		t.Fatalf("over budget: %v, truncated %v", got, m.truncated)
	}
}

func TestPostingID(t *testing.T) {
	id, err := ParsePostingID("0190b7e4-6c1e-7d3a-9f00-000000000001:3")
	if err != nil || id.Idx != 3 || id.String() != "0190b7e4-6c1e-7d3a-9f00-000000000001:3" {
		t.Fatalf("%v %v", id, err)
	}
	for _, bad := range []string{"", "x:1", "0190b7e4-6c1e-7d3a-9f00-000000000001", "0190b7e4-6c1e-7d3a-9f00-000000000001:64"} {
		if _, err := ParsePostingID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMasks(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{MaskName("Ana Buyer"), "A*** B***"},
		{MaskName("  Zoë   van Dijk "), "Z*** v*** D***"},
		{MaskEmail("ana@example.com"), "a***@example.com"},
		{MaskEmail("not an address"), "n*** a*** a***"},
		{MaskPhone("+49 170 1234567"), "+**********67"},
		{MaskPhone("12"), "**"},
		{MaskName(""), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// BenchmarkMatcher is the matcher's in-memory core on the benchmark's data
// shape (see GenerateBench), 10 000 lines against 100 000 postings: the
// database side is measured by escrowd bench-reconcile.
func BenchmarkMatcher(b *testing.B) {
	const lines, postings, days = 10_000, 100_000, 90
	amount := func(n int64) int64 { return ((n*7919)%499901 + 100) * 100 }
	k := int64(postings / lines)
	for b.Loop() {
		m := newMatcher(MatchConfig{WindowDays: 3, FeeTolerance: u(100)})
		for i := int64(1); i <= lines; i++ {
			p, c := i*k, i%20
			day := int32(p%days) + 1
			switch {
			case c < 12:
				m.addLine(amount(p), true, day, fmt.Sprintf("PAY-%d", p))
			case c < 17:
				m.addLine(amount(p), true, int32(p%days)+int32(i%3))
			case c == 17:
				m.addLine(amount(p)+amount(p+1)+amount(p+2), true, day, fmt.Sprintf("BATCH-%d", i))
			case c == 18:
				m.addLine(amount(p)-u(50), true, day)
			default:
				m.addLine(u(600000)+i, true, day)
			}
		}
		for n := int64(1); n <= postings; n++ {
			batch := ""
			if (n/k)%20 == 17 && n%k < 3 {
				batch = fmt.Sprintf("BATCH-%d", n/k)
			}
			m.addPosting(amount(n), int32(n%days), fmt.Sprintf("bench:fund:%d", n), fmt.Sprintf("PAY-%d", n), batch)
		}
		m.finish()
		if len(m.groups) < lines*8/10 {
			b.Fatalf("%d groups", len(m.groups))
		}
	}
}

// firstPostings lists posting indexes 0..n-1.
func firstPostings(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}
