package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxReportedDuplicates bounds ImportResult.DuplicateLineNumbers.
const MaxReportedDuplicates = 100

// dedupeKeys returns the key of each line of a CSV statement (nil for other
// formats): a hash of everything the line says, with the line's occurrence
// among identical lines of the file, so that two exports that overlap
// give the shared lines the same keys while identical transactions of one
// file stay apart. A reference derived from the row number is not part of
// what the line says; one from an entry_ref column is. Each field is
// hashed with its length, so no content can shift into the next field.
//
// The key cannot tell a line exported twice from a second identical
// transfer in a later file, which is why skipping is the importer's choice
// (CSVMappingParams.SkipDuplicates) and not the default.
func dedupeKeys(format string, st Statement) []string {
	if format != FormatCSV {
		return nil
	}
	keys := make([]string, len(st.Lines))
	seen := make(map[string]int, len(st.Lines))
	for i, l := range st.Lines {
		ref := l.EntryRef
		if ref == derivedEntryRef(l.Index) {
			ref = ""
		}
		h := sha256.New()
		for _, f := range []string{l.Status, strconv.FormatBool(l.Reversal), dateText(l.BookingDate), dateText(l.ValueDate),
			l.Amount.String(), l.Currency, ref, l.EndToEndID, l.AcctSvcrRef, l.Reference, l.Description, l.Counterparty} {
			h.Write([]byte(strconv.Itoa(len(f)) + ":" + f))
		}
		content := hex.EncodeToString(h.Sum(nil))
		seen[content]++
		keys[i] = content + ":" + strconv.Itoa(seen[content])
	}
	return keys
}

// storedElsewhere returns which of keys another statement of the account
// (not the one with statement reference ref) already holds.
func storedElsewhere(ctx context.Context, tx pgx.Tx, account uuid.UUID, ref string, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(keys); start += insertBatchSize {
		rows, err := tx.Query(ctx, `
			SELECT l.dedupe_key FROM recon_lines l JOIN recon_statements s ON s.id = l.statement_id
			WHERE l.account_id = $1 AND l.dedupe_key = ANY ($2) AND s.statement_ref <> $3`,
			account, keys[start:min(start+insertBatchSize, len(keys))], ref)
		if err != nil {
			return nil, fmt.Errorf("reconcile: lines of other statements: %w", err)
		}
		var k string
		_, err = pgx.ForEachRow(rows, []any{&k}, func() error {
			out[k] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reconcile: lines of other statements: %w", err)
		}
	}
	return out, nil
}

// withoutStoredElsewhere drops from st the lines another statement of the
// account holds already and returns the statement, the keys of the lines
// kept, and the row numbers (Index) of those dropped.
func withoutStoredElsewhere(ctx context.Context, tx pgx.Tx, account uuid.UUID, st Statement, keys []string) (Statement, []string, []int, error) {
	if keys == nil {
		return st, nil, nil, nil
	}
	dup, err := storedElsewhere(ctx, tx, account, st.ID, keys)
	if err != nil || len(dup) == 0 {
		return st, keys, nil, err
	}
	kept, keptKeys := make([]StatementLine, 0, len(st.Lines)), make([]string, 0, len(keys))
	var dropped []int
	for i, l := range st.Lines {
		if dup[keys[i]] {
			dropped = append(dropped, l.Index)
		} else {
			kept, keptKeys = append(kept, l), append(keptKeys, keys[i])
		}
	}
	st.Lines = kept
	return st, keptKeys, dropped, nil
}
