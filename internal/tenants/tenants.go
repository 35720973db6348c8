// Package tenants holds marketplaces (tenants) and their API keys. A key is
// 32 random bytes shown once; only its SHA-256 is stored, and it is compared
// in constant time.
package tenants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
)

// Role is what a key may do. Each key has exactly one.
type Role string

// The roles.
const (
	RoleMarketplace  Role = "marketplace"
	RoleDisputeAgent Role = "dispute_agent"
	RoleRiskReviewer Role = "risk_reviewer"
	RoleFinance      Role = "finance"
	RoleAdmin        Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleMarketplace, RoleDisputeAgent, RoleRiskReviewer, RoleFinance, RoleAdmin}

// Errors.
var (
	ErrUnauthorized  = errors.New("missing, invalid or revoked API key")
	ErrNotFound      = errors.New("not found")
	ErrInvalidRole   = errors.New("invalid role")
	ErrInvalidTenant = errors.New("invalid tenant name")
)

// MaxKeysListed bounds ListKeys.
const MaxKeysListed = 500

// keyPrefix starts every API key so that leaked keys are easy to recognise.
const keyPrefix = "esk_"

// Tenant is a marketplace.
type Tenant struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
}

// Key is an API key's record (never the secret).
type Key struct {
	ID        uuid.UUID
	TenantID  uuid.UUID
	Role      Role
	Label     string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Principal is who a request acts as.
type Principal struct {
	TenantID uuid.UUID
	KeyID    uuid.UUID
	Role     Role
}

// Store reads and writes tenants and keys.
type Store struct {
	DB    *db.DB
	Clock clock.Clock

	keys keyCache
}

// ValidRole reports whether r is one of Roles.
func ValidRole(r Role) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// CreateTenant creates a tenant.
func (s *Store) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return Tenant{}, fmt.Errorf("%w: %q (1 to 200 characters)", ErrInvalidTenant, name)
	}
	t := Tenant{ID: uuid.Must(uuid.NewV7()), Name: name, CreatedAt: s.Clock.Now()}
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, t.ID, t.Name, t.CreatedAt)
		return err
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

// CreateKey creates a key for tenantID with role and returns it with its
// secret, which is not stored and cannot be shown again.
func (s *Store) CreateKey(ctx context.Context, tenantID uuid.UUID, role Role, label string) (Key, string, error) {
	if !ValidRole(role) {
		return Key{}, "", fmt.Errorf("%w: %q", ErrInvalidRole, role)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Key{}, "", fmt.Errorf("create key: %w", err)
	}
	secret := keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	k := Key{ID: uuid.Must(uuid.NewV7()), TenantID: tenantID, Role: role, Label: label, CreatedAt: s.Clock.Now()}
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO api_keys (id, tenant_id, role, lookup, key_hash, label, created_at)
			SELECT $1, id, $3, $4, $5, $6, $7 FROM tenants WHERE id = $2`,
			k.ID, tenantID, string(role), lookupOf(sum), sum[:], label, k.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("create key: %w", err)
	}
	return k, secret, nil
}

// lookupOf is the indexed part of a key hash; the whole hash is then
// compared in constant time.
func lookupOf(sum [32]byte) string { return hex.EncodeToString(sum[:12]) }

// Authenticate returns the principal of a key secret, or ErrUnauthorized.
func (s *Store) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, keyPrefix) || len(secret) > 100 {
		return Principal{}, ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(secret))
	p, gen, ok := s.keys.get(sum, time.Now())
	if ok {
		return p, nil
	}
	var role string
	var stored []byte
	var revoked *time.Time
	err := s.DB.Pool.QueryRow(ctx, `SELECT tenant_id, id, role, key_hash, revoked_at FROM api_keys WHERE lookup = $1`,
		lookupOf(sum)).Scan(&p.TenantID, &p.KeyID, &role, &stored, &revoked)
	if db.IsNoRows(err) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, sum[:]) != 1 || revoked != nil {
		return Principal{}, ErrUnauthorized
	}
	p.Role = Role(role)
	s.keys.put(sum, p, time.Now(), gen)
	return p, nil
}

// ListKeys lists a tenant's keys, newest first (at most 500).
func (s *Store) ListKeys(ctx context.Context, tenantID uuid.UUID) ([]Key, error) {
	rows, err := s.DB.Pool.Query(ctx, `
		SELECT id, tenant_id, role, label, created_at, revoked_at FROM api_keys
		WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2`, tenantID, MaxKeysListed)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []Key
	var k Key
	var role string
	_, err = pgx.ForEachRow(rows, []any{&k.ID, &k.TenantID, &role, &k.Label, &k.CreatedAt, &k.RevokedAt}, func() error {
		k.Role = Role(role)
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// RevokeKey revokes a key; revoking twice is not an error.
func (s *Store) RevokeKey(ctx context.Context, keyID uuid.UUID) error {
	// Cleared after the commit; a read of the key that began before is
	// not cached either (keyCache.put).
	defer s.keys.clear()
	return s.DB.Tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, keyID, s.Clock.Now())
		if err != nil {
			return fmt.Errorf("revoke key %s: %w", keyID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("revoke key %s: %w", keyID, ErrNotFound)
		}
		return nil
	})
}
