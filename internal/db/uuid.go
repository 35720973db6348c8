package db

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerUUID makes pgx send and read github.com/google/uuid values as
// binary UUIDs. Without it pgx falls back to uuid.UUID's driver.Valuer and
// formats every id as text (36 bytes, about a tenth of the server's CPU in
// escrowd bench), and scans through uuid.UUID's sql.Scanner, which pgx
// prefers to any scan wrapper: so the scans are planned by uuidCodec.
func registerUUID(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncode}, m.TryWrapEncodePlanFuncs...)
}

// pgUUID is a uuid.UUID as pgtype's UUID codec takes and fills it.
type pgUUID uuid.UUID

func (u pgUUID) UUIDValue() (pgtype.UUID, error) { return pgtype.UUID{Bytes: u, Valid: true}, nil }

// ScanUUID stores v; NULL is uuid.Nil, without error (uuid.UUID's own
// Scan left the target as it was).
func (u *pgUUID) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		*u = pgUUID(uuid.Nil)
		return nil
	}
	*u = v.Bytes
	return nil
}

func tryWrapUUIDEncode(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	switch u := value.(type) {
	case uuid.UUID:
		return &uuidEncodePlan{}, pgUUID(u), true
	case *uuid.UUID:
		return &pointerEncodePlan[uuid.UUID]{conv: func(u uuid.UUID) any { return pgUUID(u) }}, pgUUID{}, true
	}
	return nil, nil, false
}

type uuidEncodePlan struct{ next pgtype.EncodePlan }

func (p *uuidEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgUUID(value.(uuid.UUID)), buf)
}

// uuidCodec is pgtype's UUID codec that also plans binary scans into
// *uuid.UUID, which pgx would otherwise give to uuid.UUID's sql.Scanner
// (the value formatted as text, then parsed). Text results still go to
// the Scanner, which reads every form uuid.Parse does.
type uuidCodec struct{ pgtype.UUIDCodec }

// PlanScan implements pgtype.Codec.
func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if u, ok := target.(*uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		if plan := c.UUIDCodec.PlanScan(m, oid, format, (*pgUUID)(u)); plan != nil {
			return &uuidScanPlan{next: plan}
		}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type uuidScanPlan struct{ next pgtype.ScanPlan }

func (p *uuidScanPlan) Scan(src []byte, dst any) error {
	return p.next.Scan(src, (*pgUUID)(dst.(*uuid.UUID)))
}
