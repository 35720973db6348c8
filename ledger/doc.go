// Package ledger is escrowd's double-entry ledger: accounts, entries and
// their postings, holds (pending entries), balances, statements,
// point-in-time balances, trial balances, sealed blocks and their
// verification.
//
// Other domains (escrow, fx, disputes, reconcile) call the package
// functions (EnsureAccount, Post, PostPending, Commit, Void, Reverse and the
// readers) inside their own transactions; Service runs the ledger's own
// operations for the API, the CLI and the jobs. Finance's manual entries
// (Service.PostAdjustment, Service.ReverseEntry) are kept off the accounts
// and entries a domain owns (manual.go); the package functions are not.
//
// # Invariants
//
// Every entry has 2 to MaxPostings postings, its debits equal its credits in
// each currency, every amount is positive and exact at its currency's minor
// unit, every posting is in its account's currency and every account is the
// entry's tenant's. Entry.Validate checks the shape; writeEntry checks the
// accounts inside the transaction; CHECK and UNIQUE constraints repeat what
// one row can say (amount > 0, posting count, statuses, one reference per
// tenant, one reversal per entry, one commit per pending entry, one
// resolution per pending entry, the available balance of a single-shard
// guarded account); Service.Verify re-derives everything from the postings.
//
// Nothing here updates or deletes an entry or a posting. A correction is a
// reversal entry (ReversesID). A pending entry keeps the status it was
// written with; what became of it is one row of ledger_pending_resolutions
// (committed, voided, expired), and a commit is a new posted entry whose
// PendingID names it.
//
// # Balances
//
// Each account has one balance row, or Shards rows for a hot account
// (docs/architecture.md, "Ledger: hot accounts"): posted (signed, normal
// side), pending debits, pending credits, a sequence number and the time of
// its last posting. The rows an entry touches are locked and updated in
// account id then shard order, in the entry's transaction. Each posted
// posting stores the running balance of its row after it and the row's
// sequence number; posting times are monotonic per row (an entry's postings
// are all booked at one time, the latest of the entry's time and the last
// posting time of every row it books on), so the balance at any time is the
// sum over the account's rows of the running balance of the last posting
// at or before it: one index lookup per row, and no time falls between two
// postings of one entry.
//
// # Seals
//
// Service.Seal (the ledger.seal job, every minute) chains each tenant's
// entries older than SealMargin, in (created_at, id) order, into blocks of
// at most MaxBlockEntries: hash = SHA-256(previous hash || canonical
// encoding of the block's entries and postings). Writers never read or lock
// blocks. Resolutions of pending entries are not sealed (a void or expiry
// changes no posted balance; a commit is a sealed entry).
package ledger
