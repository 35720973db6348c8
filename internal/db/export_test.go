package db

import "time"

// SetMigrationLease shortens d's migration lease for tests.
func SetMigrationLease(d *DB, lease time.Duration) { d.migrationLease = lease }

// IsSchemaChange is isSchemaChange, for tests.
var IsSchemaChange = isSchemaChange
