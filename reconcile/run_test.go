package reconcile_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
)

// TestRunRules funds escrows (each funding debits cash:psp:EUR, with its
// payment_ref) and imports a PSP statement whose lines exercise each rule:
// reference, amount + date, one-to-many (a payout batch), many-to-one
// (lines sharing a reference), fee tolerance; one line and one posting
// stay open. Then manual matching and unmatching.
func TestRunRules(t *testing.T) {
	f := newFixture(t)
	for _, x := range []struct{ amount, ref string }{
		{"150.00", "PAY-1"}, {"250.00", "PAY-2"}, {"100.10", ""}, {"200.20", ""}, {"300.30", ""},
		{"300.00", "PAY-6"}, {"500.00", ""}, {"77.77", "PAY-8"},
	} {
		f.escrowFunded(x.amount, "EUR", x.ref, nil)
	}
	csv := "booking_date,amount,reference,entry_ref,counterparty\n" +
		"2026-03-03,150.00,PAY-1,A,Ana Buyer\n" +
		"2026-03-04,250.00,,B,\n" +
		"2026-03-03,600.60,PAYOUT-77,C,PSP\n" +
		"2026-03-03,100.00,PAY-6,D1,\n" +
		"2026-03-03,200.00,PAY-6,D2,\n" +
		"2026-03-03,498.50,,E,\n" +
		"2026-03-03,42.00,,F,Zed Unknown\n"
	if _, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "cash:psp:EUR", Format: reconcile.FormatCSV, Data: []byte(csv)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(4 * 24 * time.Hour) // 2026-03-06
	req := reconcile.RunRequest{Account: "cash:psp:EUR", From: "2026-03-01", To: "2026-03-05", DryRun: true, FeeTolerance: "2.00"}

	dry, err := f.svc.Run(f.ctx, f.tenant, req)
	if err != nil {
		t.Fatal(err)
	}
	if dry.RunID != nil || f.count(`SELECT count(*) FROM recon_runs`)+f.count(`SELECT count(*) FROM recon_matches`)+f.count(`SELECT count(*) FROM recon_match_lines`) != 0 {
		t.Fatal("a dry run stored something")
	}
	req.DryRun = false
	res, err := f.svc.Run(f.ctx, f.tenant, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []reconcile.RunResult{dry, res} {
		want := map[string]int{"reference": 1, "amount_date": 1, "one_to_many": 1, "many_to_one": 1, "fee_tolerance": 1}
		for rule, n := range want {
			if r.ByRule[rule] != n {
				t.Errorf("dry %v: rule %s matched %d, want %d (%v)", r.DryRun, rule, r.ByRule[rule], n, r.ByRule)
			}
		}
		if r.Lines != 7 || r.Postings != 8 || r.MatchCount != 5 || r.MatchedLines != 6 || r.MatchedPostings != 7 ||
			r.UnmatchedLineCount != 1 || r.UnmatchedPostingCount != 1 || r.SearchTruncated {
			t.Fatalf("dry %v: counts %+v", r.DryRun, r)
		}
	}
	byLine := map[string]reconcile.Match{}
	for _, m := range res.Matches {
		if m.RunID == nil || *m.RunID != *res.RunID {
			t.Errorf("match %s not tied to the run", m.ID)
		}
		var refs []string
		for _, l := range m.Lines {
			refs = append(refs, l.EntryRef)
		}
		byLine[strings.Join(refs, "+")] = m
	}
	check := func(lines, rule string, postings int, diff string) {
		t.Helper()
		m, ok := byLine[lines]
		if !ok || m.Rule != rule || m.PostingCount != postings || !m.Difference.Equal(dec(diff)) {
			t.Errorf("lines %s: %+v", lines, m)
		}
	}
	check("A", "reference", 1, "0")
	check("B", "amount_date", 1, "0")
	check("C", "one_to_many", 3, "0")
	check("D1+D2", "many_to_one", 1, "0")
	check("E", "fee_tolerance", 1, "-1.5")
	if m := byLine["B"]; m.LagDays != 2 {
		t.Errorf("B lag %d days", m.LagDays)
	}
	if m := byLine["A"]; !strings.HasSuffix(m.Postings[0].Reference, ":fund:PAY-1") || m.Postings[0].Kind != "escrow.fund" || !m.Postings[0].Amount.Equal(dec("150")) {
		t.Errorf("A posting %+v", m.Postings[0])
	}
	if len(res.UnmatchedLines) != 1 || res.UnmatchedLines[0].EntryRef != "F" || res.UnmatchedLines[0].AgeDays != 3 || res.LineAging.Days0To3 != 1 {
		t.Fatalf("unmatched lines %+v", res.UnmatchedLines)
	}
	if len(res.UnmatchedPostings) != 1 || !res.UnmatchedPostings[0].Amount.Equal(dec("77.77")) || res.UnmatchedPostings[0].AgeDays != 4 || res.PostingAging.Days4To7 != 1 {
		t.Fatalf("unmatched postings %+v", res.UnmatchedPostings)
	}
	if n := f.count(`SELECT count(*) FROM recon_match_lines`); n != 6 {
		t.Fatalf("%d matched lines stored", n)
	}

	// A second run finds only what is still open.
	again, err := f.svc.Run(f.ctx, f.tenant, req)
	if err != nil || again.MatchCount != 0 || again.Lines != 1 || again.UnmatchedLineCount != 1 || again.UnmatchedPostingCount != 1 {
		t.Fatalf("second run: %+v, %v", again, err)
	}

	// Manual match of the rest, with its difference.
	lineF, postF := res.UnmatchedLines[0].ID.String(), res.UnmatchedPostings[0].ID.String()
	man, err := f.svc.CreateMatch(f.ctx, f.tenant, reconcile.ManualMatchRequest{LineIDs: []string{lineF}, PostingIDs: []string{postF}, Note: "PSP short-paid"})
	if err != nil {
		t.Fatal(err)
	}
	if man.Rule != "manual" || !man.Difference.Equal(dec("-35.77")) || man.Note != "PSP short-paid" || len(man.Lines) != 1 || len(man.Postings) != 1 {
		t.Fatalf("manual match %+v", man)
	}
	_, err = f.svc.CreateMatch(f.ctx, f.tenant, reconcile.ManualMatchRequest{LineIDs: []string{lineF}, PostingIDs: []string{byLine["A"].Postings[0].ID.String()}})
	var am *reconcile.AlreadyMatchedError
	if !errors.As(err, &am) || len(am.Lines) != 1 || am.Lines[0] != lineF || len(am.Postings) != 1 {
		t.Fatalf("matching a matched line: %v", err)
	}
	if open, _ := f.svc.Run(f.ctx, f.tenant, reconcile.RunRequest{Account: "cash:psp:EUR", From: "2026-03-01", To: "2026-03-05", DryRun: true}); open.UnmatchedLineCount != 0 || open.UnmatchedPostingCount != 0 {
		t.Fatalf("after the manual match: %+v", open)
	}
	del, err := f.svc.DeleteMatch(f.ctx, f.tenant, man.ID)
	if err != nil || del.DeletedAt == nil || del.LineCount != 1 {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	if _, err := f.svc.DeleteMatch(f.ctx, f.tenant, man.ID); !errors.Is(err, reconcile.ErrMatchDeleted) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := f.svc.DeleteMatch(f.ctx, f.tenant, uuid.New()); !errors.Is(err, reconcile.ErrNotFound) {
		t.Fatalf("unknown match: %v", err)
	}
	if open, _ := f.svc.Run(f.ctx, f.tenant, reconcile.RunRequest{Account: "cash:psp:EUR", From: "2026-03-01", To: "2026-03-05", DryRun: true}); open.UnmatchedLineCount != 1 || open.UnmatchedPostingCount != 1 {
		t.Fatalf("after the delete: %+v", open)
	}
}

// TestRunLineWithTwoReferencesOfOnePosting: a bank line of 100.00 carrying
// the PSP's two references (EndToEndId = payment_ref, AcctSvcrRef =
// psp_ref) of one 200.00 payout is the first of two transfers: it matches
// nothing yet, in a dry run or a stored one, and with the second transfer
// the two lines match the payout.
func TestRunLineWithTwoReferencesOfOnePosting(t *testing.T) {
	f := newFixture(t)
	cash := f.account("cash:bank:EUR", "EUR")
	recv := f.account("psp:receivable:EUR", "EUR")
	now := f.clock.Now()
	if _, err := db.Write(f.ctx, f.db, func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Post(f.ctx, tx, ledger.Entry{TenantID: f.tenant, Kind: "psp.payout", Reference: "payout:PO-1", EffectiveAt: now, CreatedAt: now,
			Metadata: map[string]string{"payment_ref": "PO-1", "psp_ref": "ST-77"},
			Postings: []ledger.Posting{
				{AccountID: cash.ID, Direction: ledger.SideDebit, Amount: dec("200.00"), Currency: "EUR"},
				{AccountID: recv.ID, Direction: ledger.SideCredit, Amount: dec("200.00"), Currency: "EUR"},
			}})
	}); err != nil {
		t.Fatal(err)
	}
	transfer := func(ref string) string {
		return camtEntry("100.00", "CRDT", `<NtryRef>`+ref+`</NtryRef><BookgDt><Dt>2026-03-02</Dt></BookgDt><AcctSvcrRef>ST-77</AcctSvcrRef>`+
			`<NtryDtls><TxDtls><Refs><EndToEndId>PO-1</EndToEndId></Refs></TxDtls></NtryDtls>`)
	}
	imp := func(doc []byte) {
		t.Helper()
		if _, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "cash:bank:EUR", Format: reconcile.FormatCamt053, Data: doc}); err != nil {
			t.Fatal(err)
		}
	}
	imp(camtStatement("S-1", "0", "100.00", transfer("T1")))
	req := reconcile.RunRequest{Account: "cash:bank:EUR", From: "2026-03-01", To: "2026-03-03"}
	for _, dry := range []bool{true, false} {
		req.DryRun = dry
		res, err := f.svc.Run(f.ctx, f.tenant, req)
		if err != nil {
			t.Fatalf("dry run %v: %v", dry, err)
		}
		for _, m := range res.Matches {
			t.Errorf("dry run %v: %s match, line_count %d, line_total %s, posting_total %s", dry, m.Rule, m.LineCount, m.LineTotal, m.PostingTotal)
		}
		if res.UnmatchedLineCount != 1 || res.UnmatchedPostingCount != 1 {
			t.Errorf("dry run %v: unmatched %d lines, %d postings", dry, res.UnmatchedLineCount, res.UnmatchedPostingCount)
		}
	}
	imp(camtStatement("S-2", "100.00", "200.00", transfer("T2")))
	res, err := f.svc.Run(f.ctx, f.tenant, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.MatchCount != 1 || res.Matches[0].Rule != reconcile.RuleManyToOne || res.Matches[0].LineCount != 2 || !res.Matches[0].LineTotal.Equal(dec("200")) ||
		res.UnmatchedLineCount != 0 || res.UnmatchedPostingCount != 0 {
		t.Fatalf("with the second transfer: %+v", res)
	}
	if n := f.count(`SELECT count(*) FROM recon_match_lines`); n != 2 {
		t.Fatalf("%d matched lines stored", n)
	}
}

// TestRunLeavesHugePostingsUnmatched: the matcher works in units of 0.0001
// held in an int64 and takes amounts below 10^14. A larger posting (a
// legal ledger amount) used to overflow the INT8 cast of the query and
// fail every run on its account; it is now left to finance, counted as
// unmatched, while the rest of the account still matches.
func TestRunLeavesHugePostingsUnmatched(t *testing.T) {
	f := newFixture(t)
	cash := f.account("cash:bank:EUR", "EUR")
	recv := f.account("psp:receivable:EUR", "EUR")
	now := f.clock.Now()
	tests := []struct {
		amount  string
		debit   bool
		matched bool
	}{
		{"100.00", true, true},
		{"99999999999999.99", true, true}, // the largest the matcher takes
		{"100000000000000.00", true, false},
		{"1000000000000000.00", true, false},  // 10^19 units: beyond INT8
		{"1000000000000000.01", false, false}, // money out
	}
	var entries []string
	for i, tc := range tests {
		dir, other := ledger.SideDebit, ledger.SideCredit
		ind := "CRDT"
		if !tc.debit {
			dir, other, ind = other, dir, "DBIT"
		}
		if _, err := db.Write(f.ctx, f.db, func(tx pgx.Tx) (ledger.Entry, error) {
			return ledger.Post(f.ctx, tx, ledger.Entry{TenantID: f.tenant, Kind: "psp.payout", Reference: fmt.Sprintf("payout:%d", i), EffectiveAt: now, CreatedAt: now,
				Postings: []ledger.Posting{
					{AccountID: cash.ID, Direction: dir, Amount: dec(tc.amount), Currency: "EUR"},
					{AccountID: recv.ID, Direction: other, Amount: dec(tc.amount), Currency: "EUR"},
				}})
		}); err != nil {
			t.Fatalf("post %s: %v", tc.amount, err)
		}
		entries = append(entries, camtEntry(tc.amount, ind, fmt.Sprintf(`<NtryRef>L%d</NtryRef><BookgDt><Dt>2026-03-02</Dt></BookgDt>`, i)))
	}
	if _, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "cash:bank:EUR", Format: reconcile.FormatCamt053,
		Data: camtStatement("S-huge", "0", "0", entries...)}); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Run(f.ctx, f.tenant, reconcile.RunRequest{Account: "cash:bank:EUR", From: "2026-03-01", To: "2026-03-03", DryRun: true})
	if err != nil {
		t.Fatalf("run over an account with postings of 10^15: %v", err)
	}
	matched := map[string]bool{}
	for _, m := range res.Matches {
		for _, p := range m.Postings {
			matched[p.Amount.Abs().String()] = true
		}
	}
	unmatched := map[string]bool{}
	for _, p := range res.UnmatchedPostings {
		unmatched[p.Amount.Abs().String()] = true
	}
	nUnmatched := 0
	for _, tc := range tests {
		key := dec(tc.amount).String()
		if matched[key] != tc.matched || unmatched[key] == tc.matched {
			t.Errorf("posting %s: matched %t, listed unmatched %t; want matched %t", tc.amount, matched[key], unmatched[key], tc.matched)
		}
		if !tc.matched {
			nUnmatched++
		}
	}
	if res.UnmatchedPostingCount != nUnmatched || res.UnmatchedLineCount != nUnmatched || res.Postings != len(tests) {
		t.Errorf("unmatched postings %d, lines %d, postings loaded %d; want %d, %d, %d",
			res.UnmatchedPostingCount, res.UnmatchedLineCount, res.Postings, nUnmatched, nUnmatched, len(tests))
	}
}
