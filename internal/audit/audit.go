// Package audit records who changed what. A record is written in the same
// transaction as the change it describes.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// Record is one audited request.
type Record struct {
	TenantID   uuid.UUID
	KeyID      uuid.UUID
	Role       string
	Method     string
	Route      string // the route template, e.g. /v1/escrows/{id}/fund
	ResourceID string
	Status     int
	Outcome    string // "ok", "rejected" (4xx) or "error" (5xx)
	RequestID  string
	At         time.Time
}

// OutcomeOf names the outcome of an HTTP status.
func OutcomeOf(status int) string {
	switch {
	case status >= 500:
		return "error"
	case status >= 400:
		return "rejected"
	default:
		return "ok"
	}
}

// Write inserts r using tx.
func Write(ctx context.Context, tx pgx.Tx, r Record) error {
	b := &db.Batch{}
	Queue(b, r)
	if err := db.Send(ctx, tx, b); err != nil {
		return fmt.Errorf("audit %s %s: %w", r.Method, r.Route, err)
	}
	return nil
}

// Queue queues Write's insert on b, to be sent with other writes.
func Queue(b *db.Batch, r Record) {
	b.Queue(`
		INSERT INTO audit_log (id, tenant_id, key_id, role, method, route, resource_id, status, outcome, request_id, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		uuid.Must(uuid.NewV7()), r.TenantID, r.KeyID, r.Role, r.Method, r.Route, r.ResourceID, r.Status, r.Outcome, r.RequestID, r.At)
}
