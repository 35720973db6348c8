package reconcile_test

import (
	"strings"
	"testing"

	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/reconcile"
)

// TestCreateMatchRefusesPendingLine: a pending (PDNG) statement line,
// which runs never match and the balance check leaves out, cannot be
// matched by hand either (422 naming the line); its booked line can.
func TestCreateMatchRefusesPendingLine(t *testing.T) {
	f := newFixture(t)
	f.escrowFunded("50.00", "EUR", "PAY-P", nil) // debits cash:psp:EUR
	entry := func(ref string) string {
		return camtEntry("50.00", "CRDT", `<NtryRef>`+ref+`</NtryRef><BookgDt><Dt>2026-03-02</Dt></BookgDt>`)
	}
	pending := strings.Replace(string(camtStatement("S-P", "0", "0", entry("P1"))), "<Sts>BOOK</Sts>", "<Sts>PDNG</Sts>", 1)
	for _, doc := range [][]byte{[]byte(pending), camtStatement("S-B", "0", "50.00", entry("B1"))} {
		if _, err := f.svc.ImportStatement(f.ctx, f.tenant, reconcile.ImportRequest{Account: "cash:psp:EUR", Format: reconcile.FormatCamt053, Data: doc}); err != nil {
			t.Fatal(err)
		}
	}
	lineID := func(status string) string {
		var id string
		if err := f.db.Pool.QueryRow(f.ctx, `SELECT id::TEXT FROM recon_lines WHERE status = $1`, status).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	pendingLine, bookedLine := lineID("pending"), lineID("booked")
	var posting string
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT p.entry_id::TEXT || ':' || p.idx FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
		WHERE a.code = 'cash:psp:EUR' AND a.tenant_id = $1`, f.tenant).Scan(&posting); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, field string
		lines       []string
	}{
		{"the pending line", "line_ids[0]", []string{pendingLine}},
		{"the pending line after the booked one", "line_ids[1]", []string{bookedLine, pendingLine}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := f.svc.CreateMatch(f.ctx, f.tenant, reconcile.ManualMatchRequest{LineIDs: tc.lines, PostingIDs: []string{posting}})
			fe, ok := valid.As(err)
			if !ok || fe.Code() != valid.CodeValidationFailed || fe[0].Field != tc.field {
				t.Fatalf("match %s (rule %s), err %v: want validation_failed naming the pending line", m.ID, m.Rule, err)
			}
		})
	}
	if n := f.count(`SELECT count(*) FROM recon_matches`); n != 0 {
		t.Fatalf("%d matches stored", n)
	}
	if _, err := f.svc.CreateMatch(f.ctx, f.tenant, reconcile.ManualMatchRequest{LineIDs: []string{bookedLine}, PostingIDs: []string{posting}}); err != nil {
		t.Fatalf("the booked line: %v", err)
	}
}
