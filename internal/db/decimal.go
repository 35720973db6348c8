package db

import (
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// registerDecimal makes pgx send and read shopspring/decimal values as
// binary NUMERIC without going through text.
//
// pgx-shopspring-decimal alone covers decimal.Decimal parameters only.
// pgx prefers a target's sql.Scanner to the wrapper that package registers
// for scans, and does not follow a pointer to a driver.Valuer, so scans
// into decimal.Decimal and decimal.NullDecimal, and *decimal.Decimal
// parameters, went through text: formatted and parsed, the parameters
// first refused as binary (with the UUIDs' detour, about 7% of escrowd's
// CPU in escrowd bench). numericCodec plans those scans, and
// tryWrapDecimalPointerEncode those parameters.
func registerDecimal(m *pgtype.Map) {
	pgxdecimal.Register(m)
	m.RegisterType(&pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: numericCodec{}})
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapDecimalPointerEncode}, m.TryWrapEncodePlanFuncs...)
}

// numericCodec is pgx-shopspring-decimal's NUMERIC codec that also plans
// scans into *decimal.Decimal and *decimal.NullDecimal, which pgx would
// otherwise give to their sql.Scanner.
type numericCodec struct{ pgxdecimal.NumericCodec }

// PlanScan implements pgtype.Codec. Text results keep going to the
// decimal's own Scan, which reads the exponent form CockroachDB writes
// (1E+2) and pgtype's text parser refuses.
func (c numericCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if wrap, next, ok := pgxdecimal.TryWrapNumericScanPlan(target); ok && format == pgtype.BinaryFormatCode {
		if plan := c.NumericCodec.PlanScan(m, oid, format, next); plan != nil {
			wrap.SetNext(plan)
			return wrap
		}
	}
	return c.NumericCodec.PlanScan(m, oid, format, target)
}

func tryWrapDecimalPointerEncode(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if _, ok := value.(*decimal.Decimal); ok {
		return &pointerEncodePlan[decimal.Decimal]{conv: func(d decimal.Decimal) any { return pgxdecimal.Decimal(d) }}, pgxdecimal.Decimal{}, true
	}
	return nil, nil, false
}
