package risk

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Screening parameters.
const (
	// DefaultScreenThreshold is the similarity from which a name is
	// reported as a match when NewScreener is given threshold 0.
	DefaultScreenThreshold = 0.92
	// MinTokenSimilarity is the token similarity (see LengthPenalty)
	// from which two tokens count as the same word. Pairs below it count
	// zero.
	MinTokenSimilarity = 0.85
	// LengthPenalty caps the similarity of two tokens at 1 minus this
	// much per rune of length difference. Jaro-Winkler rewards a shared
	// prefix, so without the cap "ivanov" is 0.93 like "ivanovich" and
	// "petrov" 0.86 like "petroliance"; spelling variants of one name
	// ("hassan", "hasan") rarely differ by more than a rune or two.
	LengthPenalty = 0.07
	// ShortTokenRunes is the length up to which a token (the shorter of
	// a pair) needs MinShortTokenSimilarity rather than
	// MinTokenSimilarity: one changed letter in four ("juan", "jian") is
	// exactly 0.85 by Jaro-Winkler.
	ShortTokenRunes = 4
	// MinShortTokenSimilarity is MinTokenSimilarity for short tokens.
	MinShortTokenSimilarity = 0.90
	// ExactTokenRunes is the length up to which tokens must be equal to
	// match at all: Jaro-Winkler is meaningless on "li" versus "lu", and
	// short aliases such as "BNC" must not match "BNG".
	ExactTokenRunes = 3
	// MaxScreenTokens is the most tokens of a screened name looked at.
	MaxScreenTokens = 16
	// MaxScreenMatches is the most matches Screen returns.
	MaxScreenMatches = 50
	// PartialNameScore is the score of a partial-name match (see
	// Screener): above DefaultScreenThreshold, below the 1 of the same
	// tokens, so that a threshold above it turns the rule off.
	PartialNameScore = 0.95
	// MinPartialRarity is the least sum of the rarities (see Screener) of
	// the two rarest tokens of a name for a partial-name match. PUTIN (on
	// 1 name, rarity 0.59) with VLADIMIR (98 names, 0.18) is 0.77, MADURO
	// (4) with NICOLAS (5) 0.74, SECHIN (2) with IGOR (53) 0.68; most
	// common names that a listed person has with a patronymic stay under
	// it: IVANOVA (3) with ELENA (25) 0.65, MOROZOV (3) with IGOR 0.62,
	// PETROV (8) with SERGEY (86) 0.50, IVANOV (14) with SERGEY 0.45.
	// Rarity on the list is not rarity among customers: KUZNETSOVA (2)
	// with ANNA (14) is 0.75 and TAYLOR (1) with MARK (2) 1.07, and those
	// common names match (TestScreenCommonNames lists them).
	MinPartialRarity = 0.66
)

// ErrInvalidThreshold is returned by NewScreener for a threshold
// outside (0, 1].
var ErrInvalidThreshold = errors.New("screening threshold must be in (0, 1]")

// Match is one sanctions list entry that a screened name resembles.
type Match struct {
	// EntNum is the entry's OFAC number.
	EntNum int
	// MatchedName is the entry's name or alias that scored best.
	MatchedName string
	// Score is the similarity in [0,1]; 1 is the same tokens,
	// PartialNameScore a listed individual's name less one (see
	// Screener).
	Score float64
	// Entry is the whole list entry.
	Entry SanctionsEntry
}

// Screener screens names against a sanctions list held in memory. It
// is read-only after NewScreener and safe for concurrent use.
//
// Scoring: both names are normalised by NormalizeName. Each token of
// either side is paired with its most similar token on the other side
// (Jaro-Winkler; tokens of up to ExactTokenRunes runes only match when
// equal; similarities below MinTokenSimilarity count zero). The score
// is the average of those best similarities over the tokens of both
// sides, weighted, so that a token left unmatched on either side lowers
// it. A token's weight is its length in runes times its rarity on the
// list, 1/(1+ln(1+n)) for a word found in n names (so 1 for a word not
// on the list, 0.15 for "trading"): agreeing on common words such as
// "international trading" counts for little, and the distinctive rest
// of the name decides. A candidate scores zero unless every token of
// the side with fewer tokens (both sides when equal) matched.
//
// Candidates are found through an index from token to names, and from
// the first letter to tokens for fuzzy matching: a token is only
// compared with list tokens starting with the same letter, so a
// spelling variant in the first letter ("Qaddafi" for "Gaddafi") is
// not found.
//
// A listed individual's name written with another spelling of a word in
// parentheses ("SANTOS, Ahmad (Ahmed)") is also indexed as each of its
// spellings ("SANTOS, Ahmad", "SANTOS, Ahmed"; see parenSpellings) and
// reported as listed. Rarity counts the listed name, not its spellings.
//
// Partial names: a listed individual is often named without the
// patronymic, a second given name or the second surname ("Vladimir
// Putin" for "PUTIN, Vladimir Vladimirovich", "Nicolas Maduro" for
// "MADURO MOROS, Nicolas"), and the missing name pulls the average
// under the threshold. Such a name scores PartialNameScore (or its
// score as above, if higher) when all of these hold:
//   - the listed name is an individual's written "SURNAME, Given names"
//     (primary name or alias), so that its surname is known;
//   - the query has at least two tokens and the listed name exactly one
//     more;
//   - every query token is spelt as one listed token after
//     normalisation (no spelling variants), one to one: distinct query
//     tokens, distinct listed tokens;
//   - among them are the first word of the surname ("PUTIN", "MADURO")
//     and the first given name ("Vladimir", "Nicolas"), so that the
//     missing name is a later given name or a later surname, never the
//     surname ("Vladimir Vladimirovich") or the first name ("John
//     Taylor" for "TAYLOR, Mark John");
//   - the query's two rarest tokens have rarities summing to at least
//     MinPartialRarity, so that common names ("Sergey Ivanov" for
//     "IVANOV, Sergey Borisovich") do not match a listed person's full
//     name less the patronymic.
type Screener struct {
	threshold float64
	entries   []SanctionsEntry
	names     []screenName
	vocab     [][]rune             // token id → runes
	vocabID   map[string]int32     // token → token id
	byFirst   map[firstLen][]int32 // first rune and length → ids of tokens longer than ExactTokenRunes
	postings  [][]int32            // token id → indexes into names
	df        []int                // token id → names, less spellings, holding it
	weights   []float64            // token id → weight (see Screener)
}

// firstLen keys the fuzzy index: first rune and length in runes.
type firstLen struct {
	first rune
	len   int
}

// maxLenDiff is the largest length difference, in runes, at which two
// tokens can still reach MinTokenSimilarity under LengthPenalty.
var maxLenDiff = int(math.Floor((1-MinTokenSimilarity)/LengthPenalty + 1e-9))

// tokenSimilarity is the Jaro-Winkler similarity of a and b capped by
// LengthPenalty; ok reports whether it is high enough for the tokens to
// match (MinTokenSimilarity, or MinShortTokenSimilarity when either is
// at most ShortTokenRunes long). Tokens of at most ExactTokenRunes must
// be equal.
func tokenSimilarity(a, b []rune) (sim float64, ok bool) {
	short := min(len(a), len(b))
	if short <= ExactTokenRunes {
		if string(a) == string(b) {
			return 1, true
		}
		return 0, false
	}
	d := len(a) - len(b)
	if d < 0 {
		d = -d
	}
	sim = min(jaroWinkler(a, b), 1-LengthPenalty*float64(d))
	if short <= ShortTokenRunes {
		return sim, sim >= MinShortTokenSimilarity
	}
	return sim, sim >= MinTokenSimilarity
}

// tokenWeight is the weight of a token of n runes found in df names.
func tokenWeight(n, df int) float64 {
	return float64(n) / (1 + math.Log1p(float64(df)))
}

// rarity is the rarity of a word found in df names (see Screener).
func rarity(df int) float64 {
	return 1 / (1 + math.Log1p(float64(df)))
}

// screenName is one name or alias of an entry, tokenised.
type screenName struct {
	entry   int32   // index into entries
	surname int32   // token id of the first word of an individual's surname, -1 if not known
	given   int32   // token id of its first given name, -1 if not known
	name    string  // as listed
	tokens  []int32 // token ids, distinct
	weight  float64 // sum of token weights
	// spelling is set for a name indexed as one spelling of a listed
	// name (see parenSpellings): not counted in df.
	spelling bool
}

// NewScreener indexes entries for Screen. A threshold of 0 means
// DefaultScreenThreshold; otherwise it must be in (0, 1]. Entries are
// indexed whatever their type: to leave out vessels and aircraft,
// filter entries first.
func NewScreener(entries []SanctionsEntry, threshold float64) (*Screener, error) {
	if threshold == 0 {
		threshold = DefaultScreenThreshold
	}
	if !(threshold > 0 && threshold <= 1) {
		return nil, fmt.Errorf("new screener: %w (got %v)", ErrInvalidThreshold, threshold)
	}
	s := &Screener{
		threshold: threshold,
		entries:   entries,
		vocabID:   make(map[string]int32),
		byFirst:   make(map[firstLen][]int32),
	}
	for i, e := range entries {
		s.addName(int32(i), e.Name)
		for _, a := range e.Aliases {
			s.addName(int32(i), a)
		}
	}
	s.df = make([]int, len(s.vocab))
	for _, n := range s.names {
		if !n.spelling {
			for _, id := range n.tokens {
				s.df[id]++
			}
		}
	}
	s.weights = make([]float64, len(s.vocab))
	for id, r := range s.vocab {
		s.weights[id] = tokenWeight(len(r), s.df[id])
	}
	for i := range s.names {
		for _, id := range s.names[i].tokens {
			s.names[i].weight += s.weights[id]
		}
	}
	return s, nil
}

// addName tokenises and indexes one name of entry i, and an
// individual's spellings of it (see parenSpellings).
func (s *Screener) addName(i int32, name string) {
	s.addSpelling(i, name, name, false)
	if s.entries[i].Type == SDNTypeIndividual {
		if without, instead, ok := parenSpellings(name); ok {
			s.addSpelling(i, name, without, true)
			s.addSpelling(i, name, instead, true)
		}
	}
}

// addSpelling tokenises and indexes name, spelt as spelt, of entry i;
// spelling is set when spelt is one of the listed name's spellings.
func (s *Screener) addSpelling(i int32, name, spelt string, spelling bool) {
	toks := NormalizeName(spelt)
	if len(toks) == 0 {
		return
	}
	n := screenName{entry: i, surname: -1, given: -1, name: name, tokens: make([]int32, len(toks)), spelling: spelling}
	idx := int32(len(s.names))
	for k, t := range toks {
		id, ok := s.vocabID[t]
		if !ok {
			id = int32(len(s.vocab))
			r := []rune(t)
			s.vocab = append(s.vocab, r)
			s.vocabID[t] = id
			s.postings = append(s.postings, nil)
			if len(r) > ExactTokenRunes {
				k := firstLen{r[0], len(r)}
				s.byFirst[k] = append(s.byFirst[k], id)
			}
		}
		n.tokens[k] = id
		s.postings[id] = append(s.postings[id], idx)
	}
	if s.entries[i].Type == SDNTypeIndividual {
		if c := strings.IndexByte(spelt, ','); c > 0 {
			n.surname = s.tokenOf(&n, firstWord(spelt[:c]))
			n.given = s.tokenOf(&n, firstWord(spelt[c+1:]))
			if n.surname < 0 || n.given < 0 {
				n.surname, n.given = -1, -1
			}
		}
	}
	s.names = append(s.names, n)
}

// tokenOf returns the id of token t if it is one of n's tokens, else -1
// (t is "" or was cut off by MaxNameRunes).
func (s *Screener) tokenOf(n *screenName, t string) int32 {
	if id, ok := s.vocabID[t]; ok && slices.Contains(n.tokens, id) {
		return id
	}
	return -1
}

// Threshold returns the score from which Screen reports a match.
func (s *Screener) Threshold() float64 { return s.threshold }

// Screen returns the entries whose name or an alias scores at least the
// threshold against name, best first (ties by EntNum), one Match per
// entry, at most MaxScreenMatches. Only the first MaxScreenTokens
// tokens of name (in NormalizeName's sorted order) are used.
func (s *Screener) Screen(name string) []Match {
	q := NormalizeName(name)
	if len(q) > MaxScreenTokens {
		q = q[:MaxScreenTokens]
	}
	if len(q) == 0 {
		return nil
	}
	qr := make([][]rune, len(q))
	qw := make([]float64, len(q)) // weight of a query token on the list, 0 if not on it
	qid := make([]int32, len(q))  // id of a query token on the list, -1 if not on it
	rare := [2]float64{}          // the two highest rarities of query tokens, highest first
	partial := len(q) >= 2        // whether a partial-name match is possible (see Screener)
	for i, t := range q {
		qr[i] = []rune(t)
		qid[i] = -1
		if id, ok := s.vocabID[t]; ok {
			qw[i] = s.weights[id]
			qid[i] = id
			r := rarity(s.df[id])
			if r > rare[0] {
				rare[0], rare[1] = r, rare[0]
			} else if r > rare[1] {
				rare[1] = r
			}
		} else {
			partial = false
		}
	}
	partial = partial && rare[0]+rare[1] >= MinPartialRarity

	// sims[token id][i] is the similarity of list token id to query
	// token i, for every list token similar enough to some query token.
	sims := make(map[int32][]float64)
	hits := make(map[int32]uint32) // name index → bit set of matched query tokens
	for i, r := range qr {
		note := func(id int32, sim float64) {
			row := sims[id]
			if row == nil {
				row = make([]float64, len(q))
				sims[id] = row
			}
			row[i] = sim
			for _, n := range s.postings[id] {
				hits[n] |= 1 << i
			}
		}
		if len(r) <= ExactTokenRunes {
			if id, ok := s.vocabID[q[i]]; ok {
				note(id, 1)
			}
			continue
		}
		for l := max(len(r)-maxLenDiff, ExactTokenRunes+1); l <= len(r)+maxLenDiff; l++ {
			for _, id := range s.byFirst[firstLen{r[0], l}] {
				if sim, ok := tokenSimilarity(r, s.vocab[id]); ok {
					note(id, sim)
				}
			}
		}
	}

	all := uint32(1)<<len(q) - 1
	best := make(map[int32]Match) // entry index → best match
	for ni, mask := range hits {
		n := &s.names[ni]
		if len(q) <= len(n.tokens) && mask != all {
			continue
		}
		score, ok := s.score(qr, qw, n, sims)
		if partial && partialName(qid, n) {
			// score found every query token among n's: ok is true.
			score = max(score, PartialNameScore)
		}
		if !ok || score < s.threshold {
			continue
		}
		if m, seen := best[n.entry]; !seen || score > m.Score || (score == m.Score && n.name < m.MatchedName) {
			e := s.entries[n.entry]
			best[n.entry] = Match{EntNum: e.EntNum, MatchedName: n.name, Score: score, Entry: e}
		}
	}
	if len(best) == 0 {
		return nil
	}
	out := make([]Match, 0, len(best))
	for _, m := range best {
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Score != out[b].Score {
			return out[a].Score > out[b].Score
		}
		return out[a].EntNum < out[b].EntNum
	})
	if len(out) > MaxScreenMatches {
		out = out[:MaxScreenMatches]
	}
	return out
}

// partialName reports whether the query tokens qid, all on the list and
// distinct, are the tokens of n less one name, the first word of the
// surname and the first given name kept (see Screener).
func partialName(qid []int32, n *screenName) bool {
	if n.surname < 0 || len(n.tokens) != len(qid)+1 {
		return false
	}
	paired, surname, given := 0, false, false
	for _, id := range n.tokens {
		if slices.Contains(qid, id) {
			paired++
			surname = surname || id == n.surname
			given = given || id == n.given
		}
	}
	// Both sides distinct: paired query and listed tokens are one to one.
	return paired == len(qid) && surname && given
}

// score computes the similarity of the query tokens qr with name n (see
// Screener); qw holds the query tokens' own weights, 0 for a token not
// on the list. ok is false when a token of the shorter side is
// unmatched.
func (s *Screener) score(qr [][]rune, qw []float64, n *screenName, sims map[int32][]float64) (float64, bool) {
	var qBest [MaxScreenTokens]float64
	var qBestID [MaxScreenTokens]int32
	eSum := 0.0
	eAll := true
	for _, id := range n.tokens {
		row := sims[id]
		eBest := 0.0
		if row != nil {
			for i, sim := range row {
				eBest = max(eBest, sim)
				if sim > qBest[i] {
					qBest[i], qBestID[i] = sim, id
				}
			}
		}
		if eBest == 0 {
			eAll = false
		}
		eSum += eBest * s.weights[id]
	}
	qSum, qTotal := 0.0, 0.0
	qAll := true
	for i, r := range qr {
		w := qw[i]
		switch {
		case w > 0:
		case qBest[i] > 0: // a spelling not on the list: as common as the word it matched
			w = tokenWeight(len(r), s.df[qBestID[i]])
		default:
			w = tokenWeight(len(r), 0)
		}
		if qBest[i] == 0 {
			qAll = false
		}
		qSum += qBest[i] * w
		qTotal += w
	}
	switch {
	case len(qr) < len(n.tokens) && !qAll,
		len(n.tokens) < len(qr) && !eAll,
		len(qr) == len(n.tokens) && !(qAll && eAll):
		return 0, false
	}
	return (qSum + eSum) / (qTotal + n.weight), true
}
