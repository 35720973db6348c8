// Package dbtest gives each test a fresh, migrated database on the server
// named by DATABASE_URL (a real PostgreSQL or CockroachDB; `make test` starts
// a private PostgreSQL and sets it). Nothing is mocked.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/db"
	escrowdsql "github.com/escrowd/escrowd/sql"
)

var (
	adminOnce sync.Once
	admin     *db.DB
	adminErr  error
)

// URL returns the server URL tests use, failing the test when none is set.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		t.Fatal("DATABASE_URL is not set: run the tests with `make test`, which starts a private PostgreSQL, or point DATABASE_URL at PostgreSQL 15+ or CockroachDB")
	}
	return u
}

// New creates a database with a random name, applies every migration, and
// drops it when the test ends. Tests in different packages run in parallel
// without sharing state.
func New(t testing.TB) *db.DB {
	t.Helper()
	d, dbURL := NewEmpty(t)
	ms, err := db.LoadMigrations(escrowdsql.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Migrate(context.Background(), ms, "dbtest"); err != nil {
		t.Fatalf("migrate %s: %v", dbURL, err)
	}
	return d
}

// NewEmpty creates a fresh database without applying migrations and returns
// a pool on it with its URL. It is dropped when the test ends.
func NewEmpty(t testing.TB) (*db.DB, string) {
	t.Helper()
	base := URL(t)
	ctx := context.Background()
	adminOnce.Do(func() { admin, adminErr = db.Open(ctx, base, db.Options{MaxConns: 4}) })
	if adminErr != nil {
		t.Fatalf("connect to DATABASE_URL: %v", adminErr)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "escrowd_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Pool.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	d, err := db.Open(ctx, dbURL, db.Options{MaxConns: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		drop := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
		if admin.CockroachDB {
			drop = "DROP DATABASE IF EXISTS " + name + " CASCADE"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Pool.Exec(ctx, drop); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return d, dbURL
}

// MustExec runs SQL for test setup and fails the test on error.
func MustExec(t testing.TB, d *db.DB, sql string, args ...any) {
	t.Helper()
	if _, err := d.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
}
