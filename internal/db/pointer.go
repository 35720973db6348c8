package db

import "github.com/jackc/pgx/v5/pgtype"

// pointerEncodePlan sends a *T as conv of the value it points to, nil as
// NULL. pgx does not follow a pointer to a driver.Valuer (the pointer
// might have a Value of its own), so without such a plan a *uuid.UUID or
// *decimal.Decimal went through Value as text, was refused as binary and
// was parsed back.
type pointerEncodePlan[T any] struct {
	next pgtype.EncodePlan
	conv func(T) any
}

func (p *pointerEncodePlan[T]) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *pointerEncodePlan[T]) Encode(value any, buf []byte) ([]byte, error) {
	v := value.(*T)
	if v == nil {
		return nil, nil
	}
	return p.next.Encode(p.conv(*v), buf)
}
