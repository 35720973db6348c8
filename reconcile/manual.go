package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/valid"
)

// Limits of a manual match.
const (
	// MaxManualItems bounds the lines and the postings of a manual match.
	MaxManualItems = 100
	// MaxNoteLength bounds a manual match's note.
	MaxNoteLength = 1000
)

// ManualMatchRequest is the body of POST /v1/reconciliation/matches: lines
// of one account's statements and postings on that account that account
// for each other. A difference between their totals is allowed and kept.
type ManualMatchRequest struct {
	LineIDs    []string `json:"line_ids"`
	PostingIDs []string `json:"posting_ids"`
	Note       string   `json:"note"`
}

type manualCommand struct {
	lines    []uuid.UUID
	postings []PostingID
	note     string
}

// Validate checks the request's shape.
func (r ManualMatchRequest) Validate() (manualCommand, error) {
	var errs valid.Errors
	var c manualCommand
	if len(r.LineIDs) == 0 || len(r.LineIDs) > MaxManualItems {
		errs.Add("line_ids", fmt.Sprintf("1 to %d statement line ids", MaxManualItems))
	}
	if len(r.PostingIDs) == 0 || len(r.PostingIDs) > MaxManualItems {
		errs.Add("posting_ids", fmt.Sprintf("1 to %d posting ids (<entry id>:<index>)", MaxManualItems))
	}
	seenL := map[uuid.UUID]bool{}
	for i, s := range r.LineIDs {
		id, err := uuid.Parse(s)
		switch {
		case err != nil:
			errs.Add(fmt.Sprintf("line_ids[%d]", i), "is not a line id")
		case seenL[id]:
			errs.Add(fmt.Sprintf("line_ids[%d]", i), "is listed twice")
		default:
			seenL[id] = true
			c.lines = append(c.lines, id)
		}
	}
	seenP := map[PostingID]bool{}
	for i, s := range r.PostingIDs {
		id, err := ParsePostingID(s)
		switch {
		case err != nil:
			errs.Add(fmt.Sprintf("posting_ids[%d]", i), "is not a posting id <entry id>:<index>")
		case seenP[id]:
			errs.Add(fmt.Sprintf("posting_ids[%d]", i), "is listed twice")
		default:
			seenP[id] = true
			c.postings = append(c.postings, id)
		}
	}
	c.note = strings.TrimSpace(r.Note)
	if len(c.note) > MaxNoteLength {
		errs.Add("note", fmt.Sprintf("at most %d characters", MaxNoteLength))
	}
	return c, errs.Err()
}

// CreateMatch matches statement lines with ledger postings by hand (rule
// manual). Every line and posting must be the tenant's (ErrNotFound), the
// lines booked and the postings posted (not pending) on the account of the
// lines' statements, and none may be in another match
// (*AlreadyMatchedError).
func (s *Service) CreateMatch(ctx context.Context, tenant uuid.UUID, req ManualMatchRequest) (Match, error) {
	c, err := req.Validate()
	if err != nil {
		return Match{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Match, error) {
		now := s.Clock.Now()
		lines, err := loadLineItems(ctx, tx, tenant, c.lines)
		if err != nil {
			return Match{}, err
		}
		g := foundGroup{id: uuid.Must(uuid.NewV7()), rule: RuleManual, lines: c.lines, postings: c.postings, lineSum: decimal.Zero, postSum: decimal.Zero}
		var account uuid.UUID
		for i, id := range c.lines {
			l, ok := lines[id]
			if !ok {
				return Match{}, fmt.Errorf("%w: statement line %s", ErrNotFound, id)
			}
			if i > 0 && l.accountID != account {
				return Match{}, valid.Field(fmt.Sprintf("line_ids[%d]", i), "belongs to another account's statement")
			}
			if l.pending {
				return Match{}, valid.Field(fmt.Sprintf("line_ids[%d]", i), "is a pending statement line; match the booked line")
			}
			account = l.accountID
			g.lineSum = g.lineSum.Add(l.Amount)
		}
		postings, err := loadPostingItems(ctx, tx, tenant, c.postings)
		if err != nil {
			return Match{}, err
		}
		for i, id := range c.postings {
			p, ok := postings[id]
			switch {
			case !ok:
				return Match{}, fmt.Errorf("%w: posting %s", ErrNotFound, id)
			case p.accountID != account:
				return Match{}, valid.Field(fmt.Sprintf("posting_ids[%d]", i), "is not on the account of the statement lines")
			case p.pending:
				return Match{}, valid.Field(fmt.Sprintf("posting_ids[%d]", i), "is a pending posting; match its commit")
			}
			g.postSum = g.postSum.Add(p.Amount)
		}
		if err := insertMatches(ctx, tx, tenant, account, nil, []foundGroup{g}, c.note, now); err != nil {
			return Match{}, err
		}
		m := g.view(lines, postings, "", now)
		m.Note = c.note
		return m, nil
	})
}

// DeleteMatch undoes a match: its lines and postings are open again. The
// match row stays, marked deleted, with what it matched. A match deleted
// before is ErrMatchDeleted; another tenant's is ErrNotFound.
func (s *Service) DeleteMatch(ctx context.Context, tenant, id uuid.UUID) (Match, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Match, error) {
		now := s.Clock.Now()
		tag, err := tx.Exec(ctx, `UPDATE recon_matches SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, tenant, id, now)
		if err != nil {
			return Match{}, fmt.Errorf("reconcile: delete match %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			m, err := loadMatch(ctx, tx, tenant, id)
			if err != nil {
				return Match{}, err
			}
			return Match{}, fmt.Errorf("%w: match %s was deleted at %s", ErrMatchDeleted, id, m.DeletedAt.Format(time.RFC3339))
		}
		for _, q := range []string{`DELETE FROM recon_match_lines WHERE match_id = $1`, `DELETE FROM recon_match_postings WHERE match_id = $1`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return Match{}, fmt.Errorf("reconcile: delete match %s: %w", id, err)
			}
		}
		return loadMatch(ctx, tx, tenant, id)
	})
}

// GetMatch returns a match of the tenant (deleted ones too).
func (s *Service) GetMatch(ctx context.Context, tenant, id uuid.UUID) (Match, error) {
	return loadMatch(ctx, s.DB.Pool, tenant, id)
}

func loadMatch(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Match, error) {
	var m Match
	var raw []byte
	err := q.QueryRow(ctx, `SELECT id, run_id, rule, line_total, posting_total, difference, items, note, created_at, deleted_at
		FROM recon_matches WHERE tenant_id = $1 AND id = $2`, tenant, id).
		Scan(&m.ID, &m.RunID, &m.Rule, &m.LineTotal, &m.PostingTotal, &m.Difference, &raw, &m.Note, &m.CreatedAt, &m.DeletedAt)
	if db.IsNoRows(err) {
		return Match{}, fmt.Errorf("%w: match %s", ErrNotFound, id)
	}
	if err != nil {
		return Match{}, fmt.Errorf("reconcile: match %s: %w", id, err)
	}
	var items matchItems
	if err := json.Unmarshal(raw, &items); err != nil {
		return Match{}, fmt.Errorf("reconcile: match %s items: %w", id, err)
	}
	m.LineCount, m.PostingCount = len(items.Lines), len(items.Postings)
	var lineIDs []uuid.UUID
	for _, s := range items.Lines[:min(len(items.Lines), MaxMatchListItems)] {
		if u, err := uuid.Parse(s); err == nil {
			lineIDs = append(lineIDs, u)
		}
	}
	var postIDs []PostingID
	for _, s := range items.Postings[:min(len(items.Postings), MaxMatchListItems)] {
		if p, err := ParsePostingID(s); err == nil {
			postIDs = append(postIDs, p)
		}
	}
	lines, err := loadLineItems(ctx, q, tenant, lineIDs)
	if err != nil {
		return Match{}, err
	}
	postings, err := loadPostingItems(ctx, q, tenant, postIDs)
	if err != nil {
		return Match{}, err
	}
	for _, l := range lineIDs {
		m.Lines = append(m.Lines, lines[l])
	}
	for _, p := range postIDs {
		m.Postings = append(m.Postings, postings[p].PostingItem)
	}
	m.LagDays = lagDays(m.Lines, m.Postings)
	return m, nil
}
