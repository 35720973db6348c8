package ledger

import (
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
)

// Service runs the ledger's own operations (finance's API, the CLI, jobs)
// each in one db.Write transaction. Other domains call the package
// functions inside their own transactions instead.
type Service struct {
	DB    *db.DB
	Clock clock.Clock
}
