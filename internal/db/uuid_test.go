package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// TestUUIDValues: google/uuid values, plain, nullable and in arrays, go to
// UUID and text parameters and come back from UUID and text columns.
func TestUUIDValues(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	ctx := context.Background()
	dbtest.MustExec(t, d, `CREATE TABLE ids (id UUID PRIMARY KEY, other UUID, label TEXT NOT NULL)`)
	a, b := uuid.New(), uuid.Must(uuid.NewV7())
	var null *uuid.UUID
	dbtest.MustExec(t, d, `INSERT INTO ids VALUES ($1, $2, $3), ($4, $5, $6)`, a, &b, a.String(), b, null, "b")

	var gotA, gotOther uuid.UUID
	var gotNull *uuid.UUID
	var label string
	if err := d.Pool.QueryRow(ctx, `SELECT id, other, label FROM ids WHERE id = $1`, a).Scan(&gotA, &gotOther, &label); err != nil {
		t.Fatal(err)
	}
	if gotA != a || gotOther != b || label != a.String() {
		t.Fatalf("read %s %s %q, want %s %s %q", gotA, gotOther, label, a, b, a.String())
	}
	if err := d.Pool.QueryRow(ctx, `SELECT other FROM ids WHERE id = $1`, b).Scan(&gotNull); err != nil || gotNull != nil {
		t.Fatalf("NULL uuid: %v, %v", gotNull, err)
	}
	var zero uuid.UUID
	if err := d.Pool.QueryRow(ctx, `SELECT other FROM ids WHERE id = $1`, b).Scan(&zero); err != nil || zero != uuid.Nil {
		t.Fatalf("NULL into a uuid.UUID: %s, %v, want the nil UUID and no error", zero, err)
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM ids WHERE id = ANY ($1)`, []uuid.UUID{a, b, uuid.New()}).Scan(&n); err != nil || n != 2 {
		t.Fatalf("ANY of a uuid slice: %d rows, %v", n, err)
	}
	// A uuid.UUID sent to a text parameter is its text form.
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM ids WHERE label = $1::TEXT`, a).Scan(&n); err != nil || n != 1 {
		t.Fatalf("uuid as text parameter: %d rows, %v", n, err)
	}
	// And a text column scans into a uuid.UUID.
	var fromText uuid.UUID
	if err := d.Pool.QueryRow(ctx, `SELECT label FROM ids WHERE id = $1`, a).Scan(&fromText); err != nil || fromText != a {
		t.Fatalf("text column into uuid.UUID: %s, %v", fromText, err)
	}
}
