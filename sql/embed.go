// Package sql embeds escrowd's database migrations.
//
// Files are sql/migrations/NNNN_name.sql. Each statement (ended by a
// semicolon at the end of a line) runs in its own transaction. Only SQL that
// both PostgreSQL 15 and CockroachDB accept belongs here: no triggers, no
// stored procedures, no integer key generators (keys are UUIDs), no
// advisory locks, no change notifications, no deferred or exclusion
// constraints, no custom types over base types; internal/db's
// migrate_test.go enforces it. Version ranges by package: 0001-0099 foundation,
// 0100 ledger, 0200 fx, 0300 escrow, 0400 risk, 0500 disputes, 0600
// reconcile.
package sql

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations returns the migration files, rooted at the migrations folder.
func Migrations() fs.FS {
	sub, err := fs.Sub(files, "migrations")
	if err != nil {
		panic(err) // the embedded folder always exists
	}
	return sub
}
