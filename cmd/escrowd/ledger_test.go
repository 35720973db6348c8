package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/ledger"
)

// TestLedgerVerifyAndSealCommands: escrowd ledger seal and verify on a
// database with one entry; verify fails once a posting is edited in SQL.
func TestLedgerVerifyAndSealCommands(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	tenant := uuid.New()
	old := time.Now().UTC().Add(-time.Hour) // older than the seal margin
	_, err := db.Write(ctx, d, func(tx pgx.Tx) (ledger.Entry, error) {
		var ids []uuid.UUID
		for _, s := range []ledger.AccountSpec{
			{TenantID: tenant, Code: "cash:psp:EUR", Currency: "EUR", Kind: ledger.KindAsset},
			{TenantID: tenant, Code: "escrow:1", Currency: "EUR", Kind: ledger.KindLiability},
		} {
			a, err := ledger.EnsureAccount(ctx, tx, s, old)
			if err != nil {
				return ledger.Entry{}, err
			}
			ids = append(ids, a.ID)
		}
		return ledger.Post(ctx, tx, ledger.Entry{TenantID: tenant, Kind: "test", Reference: "r1", CreatedAt: old, Postings: []ledger.Posting{
			{AccountID: ids[0], Direction: ledger.SideDebit, Amount: decimal.NewFromInt(5), Currency: "EUR"},
			{AccountID: ids[1], Direction: ledger.SideCredit, Amount: decimal.NewFromInt(5), Currency: "EUR"},
		}})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", d.Pool.Config().ConnString())
	if err := cmdLedger(ctx, []string{"seal"}); err != nil {
		t.Fatalf("seal: %v", err)
	}
	var blocks int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger_blocks`).Scan(&blocks); err != nil || blocks != 1 {
		t.Fatalf("blocks %d, %v", blocks, err)
	}
	if err := cmdLedger(ctx, []string{"verify", "--tenant", tenant.String()}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	dbtest.MustExec(t, d, `UPDATE ledger_postings SET amount = 6 WHERE idx = 1`)
	if err := cmdLedger(ctx, []string{"verify"}); err == nil || !strings.Contains(err.Error(), "mismatches") {
		t.Fatalf("verify after tampering: %v", err)
	}
	if err := cmdLedger(ctx, []string{"frobnicate"}); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}
