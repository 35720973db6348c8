package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// TestDecimalValues: decimals, plain and through pointers (nil is NULL), go
// to NUMERIC parameters and come back exactly.
func TestDecimalValues(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	ctx := context.Background()
	dbtest.MustExec(t, d, `CREATE TABLE amounts (k INT8 PRIMARY KEY, amount NUMERIC, other NUMERIC)`)
	a := decimal.RequireFromString("12345678901234567890.123456789")
	b := decimal.RequireFromString("-0.001")
	var null *decimal.Decimal
	dbtest.MustExec(t, d, `INSERT INTO amounts VALUES (1, $1, $2), (2, $3, $4)`, a, &b, b, null)

	var gotA, gotB decimal.Decimal
	var gotNull *decimal.Decimal
	if err := d.Pool.QueryRow(ctx, `SELECT amount, other FROM amounts WHERE k = 1`).Scan(&gotA, &gotB); err != nil {
		t.Fatal(err)
	}
	if !gotA.Equal(a) || !gotB.Equal(b) {
		t.Fatalf("read %s and %s, want %s and %s", gotA, gotB, a, b)
	}
	if err := d.Pool.QueryRow(ctx, `SELECT other FROM amounts WHERE k = 2`).Scan(&gotNull); err != nil || gotNull != nil {
		t.Fatalf("NULL decimal: %v, %v", gotNull, err)
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM amounts WHERE amount = $1 OR amount = $2`, &a, &b).Scan(&n); err != nil || n != 2 {
		t.Fatalf("pointer parameters: %d rows, %v", n, err)
	}
}

// TestNoTextDetour: decimals and UUIDs, and pointers to them, are sent and
// read in binary as directly as the codecs' own types are. pgx does not
// follow a pointer to a driver.Valuer and prefers a target's sql.Scanner
// to any registered scan wrapper, so without db's codecs these went
// through text: formatted, parsed back, and for the pointer parameters
// first refused as binary.
func TestNoTextDetour(t *testing.T) {
	m := typeMap(t)
	const binary = pgtype.BinaryFormatCode
	dec := decimal.RequireFromString("-1234.5678")
	id := uuid.New()

	t.Run("encode", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			oid        uint32
			value, ptr any
		}{
			{"decimal", pgtype.NumericOID, dec, &dec},
			{"uuid", pgtype.UUIDOID, id, &id},
		} {
			want, err := m.Encode(tc.oid, binary, tc.value, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Encode(tc.oid, binary, tc.ptr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s: pointer encodes as %x, value as %x", tc.name, got, want)
			}
			buf := make([]byte, 0, 64)
			byValue := testing.AllocsPerRun(100, func() { _, _ = m.Encode(tc.oid, binary, tc.value, buf) })
			byPointer := testing.AllocsPerRun(100, func() { _, _ = m.Encode(tc.oid, binary, tc.ptr, buf) })
			if byPointer > byValue {
				t.Errorf("%s: encoding through a pointer allocates %.0f times, the value %.0f", tc.name, byPointer, byValue)
			}
		}
	})

	t.Run("scan", func(t *testing.T) {
		decBytes, err := m.Encode(pgtype.NumericOID, binary, dec, nil)
		if err != nil {
			t.Fatal(err)
		}
		idBytes, err := m.Encode(pgtype.UUIDOID, binary, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		var gotDec decimal.Decimal
		var gotNull decimal.NullDecimal
		var gotID uuid.UUID
		var direct directUUID
		for _, tc := range []struct {
			name           string
			oid            uint32
			src            []byte
			target, direct any     // direct: a type the codec scans without help
			slack          float64 // allocations the conversion may add
		}{
			// A decimal is built from the codec's pgtype.Numeric: its
			// big.Int is copied (through text it took 12 allocations).
			{"decimal", pgtype.NumericOID, decBytes, &gotDec, &pgtype.Numeric{}, 4},
			{"null decimal", pgtype.NumericOID, decBytes, &gotNull, &pgtype.Numeric{}, 4},
			{"uuid", pgtype.UUIDOID, idBytes, &gotID, &direct, 1},
		} {
			byCodec := testing.AllocsPerRun(100, func() { _ = m.Scan(tc.oid, binary, tc.src, tc.direct) })
			got := testing.AllocsPerRun(100, func() { _ = m.Scan(tc.oid, binary, tc.src, tc.target) })
			if got > byCodec+tc.slack {
				t.Errorf("%s: a scan allocates %.0f times, %.0f through the codec's own type", tc.name, got, byCodec)
			}
		}
		if !gotDec.Equal(dec) || !gotNull.Valid || !gotNull.Decimal.Equal(dec) || gotID != id {
			t.Fatalf("scanned %s, %v, %s; want %s and %s", gotDec, gotNull, gotID, dec, id)
		}
	})
}

// TestDecimalTextExponent: a NUMERIC result in text format may be in
// exponent form (CockroachDB writes DECIMAL text as 1E+2), which
// pgtype's own text parser refuses; the decimals still read it.
func TestDecimalTextExponent(t *testing.T) {
	m := typeMap(t)
	for text, want := range map[string]string{"1E+2": "100", "1E-8": "0.00000001", "-1.5E+3": "-1500", "12.50": "12.5"} {
		var got decimal.Decimal
		var null decimal.NullDecimal
		if err := m.Scan(pgtype.NumericOID, pgtype.TextFormatCode, []byte(text), &got); err != nil || !got.Equal(decimal.RequireFromString(want)) {
			t.Errorf("%s into a decimal: %s, %v; want %s", text, got, err, want)
		}
		if err := m.Scan(pgtype.NumericOID, pgtype.TextFormatCode, []byte(text), &null); err != nil || !null.Valid || !null.Decimal.Equal(decimal.RequireFromString(want)) {
			t.Errorf("%s into a null decimal: %v, %v; want %s", text, null, err, want)
		}
	}
}

// typeMap is the type map of a pool connection, as the pool's AfterConnect
// registered it.
func typeMap(t *testing.T) *pgtype.Map {
	t.Helper()
	d, _ := dbtest.NewEmpty(t)
	c, err := d.Pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Release)
	return c.Conn().TypeMap()
}

// directUUID is scanned by pgtype's UUID codec without a wrapper.
type directUUID uuid.UUID

func (u *directUUID) ScanUUID(v pgtype.UUID) error {
	*u = v.Bytes
	return nil
}
