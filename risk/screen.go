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
	// PartialNameScore is the score of a possible match by the
	// partial-name rule (see Screener): above DefaultScreenThreshold,
	// below the 1 of the same tokens, so that a threshold above it turns
	// the rule off.
	PartialNameScore = 0.95
	// MinPartialRarity is the least sum of the rarities (see Screener) of
	// the two rarest tokens of a name for a possible match by the
	// partial-name rule. PUTIN (on 1 name, rarity 0.59) with VLADIMIR (98
	// names, 0.18) is 0.77, MADURO (4) with NICOLAS (5) 0.74, SECHIN (2)
	// with IGOR (53) 0.68, NOORZAI with BASHIR 0.65 and KHAMENEI (2) with
	// ALI 0.63. Rarity on the list is not rarity among customers, and no
	// value separates those from common names: DANIELA with GOMEZ is
	// 0.83, TAYLOR (1) with MARK (2) 1.07. So a possible match is not a
	// match: it sends the payout to review, and the gate is set for
	// recall. At 0.60, 4,710 of the 7,223 names of listed individuals
	// with one later word left out find their entry as a possible match
	// (4,259 at the earlier 0.66, 5,026 at 0.55), and 9 of the 1,473
	// names of TestScreenCommonNames are possible matches (3 at 0.66, 14
	// at 0.55): MOROZOV (3) with IGOR is 0.62, VASILIEV with VLADIMIR
	// 0.60 is just under, PETROV (8) with SERGEY (86) 0.50.
	MinPartialRarity = 0.60
	// FuzzyReviewRunes is the length up to which two tokens that are
	// similar but not equal (the shorter of the two counts) are a weak
	// spelling variant (see Screener): among names this short, one or
	// two letters more or changed are another name as often as another
	// spelling of the same one ("Moore" and MORENO, "Davis" and DAVID,
	// "Carlos" and CAROL; but "Shawki" and SHAWQI are one).
	FuzzyReviewRunes = 6
	// MaxExtraNameTokens is the most tokens a query may have besides all
	// those of a listed name and be a possible match of it by the
	// extra-name rule (see Screener): a second given name, a "bin", a
	// nickname.
	MaxExtraNameTokens = 2
	// MaxJoinedWords is the most hyphenated words of a listed name that
	// a screened word may be, written together (see Screener):
	// "Taleemulquranwalhadith" for TALEEM-UL-QURAN-WAL-HADITH.
	MaxJoinedWords = 5
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
	// PartialNameScore a possible match by the partial-name or the
	// extra-name rule (see Screener).
	Score float64
	// Entry is the whole list entry.
	Entry SanctionsEntry
	// Partial marks a possible match: the name matched only by the
	// partial-name or the extra-name rule, at PartialNameScore, or
	// through weak spelling variants, at its score (see Screener). A
	// reviewer decides; it does not block.
	Partial bool
}

// Screener screens names against a sanctions list held in memory. It
// is read-only after NewScreener and safe for concurrent use.
//
// Scoring: both names are normalised by NormalizeName. Two tokens are
// similar by Jaro-Winkler (tokens of up to ExactTokenRunes runes only
// when equal; similarities below MinTokenSimilarity count zero). The
// tokens of the two sides are paired one to one: each token with at
// most one token of the other side, so that one query word cannot stand
// for two listed words ("Vladimir" for VLADIMIR and VLADIMIROV) nor one
// listed word for two query words ("Khalid Khalil" for KHALID). A
// candidate scores zero unless there is a pairing of similar tokens
// that pairs every token of the side with fewer tokens (both sides when
// equal); of those pairings, the one with the greatest weighted sum of
// similarities counts (an exact assignment, not a greedy one: pairing
// the most similar tokens first can leave a token only a weak partner,
// or none). The score is that sum over the weights of all the tokens of
// both sides, so that a token left unpaired on either side lowers it: a
// pair of similarity s between tokens of weights a and b adds s(a+b). A
// token's weight is its length in runes times its rarity on the list,
// 1/(1+ln(1+n)) for a word found in n names (so 1 for a word not on the
// list, 0.15 for "trading"): agreeing on common words such as
// "international trading" counts for little, and the distinctive rest
// of the name decides. A query spelling not on the list is as rare as
// the listed word of the candidate most similar to it.
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
// under the threshold. Such a name is a possible match (Match.Partial,
// score PartialNameScore) when its score as above is under the
// threshold and all of these hold:
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
//     Taylor" for "TAYLOR, Mark John"). A particle opening the surname
//     (surnameParticles: "AL-ZAHRANI", "DI LAURO") is not its first
//     word, nor is a title opening the given names (givenTitles:
//     "NOORZAI, Haji Bashir") the first given name: "Marco Di" is not
//     DI LAURO, Marco, "Bashir Noorzai" is NOORZAI, Haji Bashir;
//   - the query's two rarest tokens have rarities summing to at least
//     MinPartialRarity, so that the commonest names ("Sergey Ivanov" for
//     "IVANOV, Sergey Borisovich") are not possible matches.
//
// Rarity on the list is not rarity among customers: "Daniela Gomez"
// ("GOMEZ VELAZQUEZ, Daniela") passes the gate more easily than
// "Nicolas Maduro". So a possible match does not block a payout: the
// gate sends it to review (sanctions_possible_match), and a reviewer
// decides, as for a match.
//
// Extra names: the reverse, a listed individual's name written with
// other words ("Bashar Hafez al-Assad" for "AL-ASSAD, Bashar"), is a
// possible match (score PartialNameScore) when its score is under the
// threshold and all of these hold:
//   - the listed name is an individual's written "SURNAME, Given names",
//     of at least two tokens ("HUSSEIN, Hussein" is one);
//   - every one of its tokens is spelt as one query token after
//     normalisation;
//   - the query has at most MaxExtraNameTokens tokens more.
//
// There is no rarity gate: the whole listed name is there, and the name
// without the other words is a match. Entities are left out: "Banco
// Nacional de Cuba" is not "BANCO NACIONAL", another bank, with a word
// more. Salutations and suffixes are not other words (see
// NormalizeName): "Mr Bashar al-Assad" is a match.
//
// Weak spelling variants: a match (at least the threshold) resting on
// weak pairs of tokens is only a possible match, at its score: for a
// listed individual's name, when the surname (the first word of it,
// when known) is in a weak pair, or the weak pairs carry at least half
// the weight of the pairs (a pair of tokens of weights a and b weighs
// a+b); for another's name, when at least half of its pairs are weak.
// So a rare surname as listed with another spelling of a commoner given
// name ("Hassan Nasrallah" for NASRALLAH, Hasan) is a match, and a
// respelled surname ("Daniel Moore" for MORENO, Daniel) or a respelled
// given name weightier than the surname ("Wei Davis" for WEI, David) a
// possible one. A pair is weak when its tokens are similar but not equal
// and the listed name is not an individual's, or the shorter token has
// at most FuzzyReviewRunes runes, or the longer starts with the
// shorter. Jaro-Winkler rewards a shared start, and among short names,
// or a name and a longer one starting with it, one or two letters more
// or changed are another name as often as another spelling of the same
// one; and a person's name spelt almost like a company's or a vessel's
// is more often a person's. So "Wei Davis" is not blocked as "WEI,
// David", "Daniel Moore" as "MORENO, Daniel", "Miguel Martin" as
// "MARTINEZ, Miguel" or "Andrea Martinez" as "ANDREA MARTINA LIMITED",
// but each is reviewed; "Khalid Sheikh Mohammed" and "Rodriges
// Orejuela, Gilberto Jose" still match.
//
// Words written together: a listed name with hyphens is also indexed
// with its hyphenated words written together ("ALASSAD, Bashar"), as a
// spelling of it. And a name is also screened in other forms (see
// queryForms): with a word that is adjacent words of a listed name
// written together (within one part between commas; or up to
// MaxJoinedWords hyphenated words) split into them ("Kim Jongun" as
// "Kim Jong Un" for "KIM, Jong Un", "Ayman Alzawahiri" as "Ayman Al
// Zawahiri"), and with adjacent words joined where together they are a
// listed word ("Al Qaida" for a listed "ALQAIDA"); the best Match of
// each entry over the forms counts. Noise words and honorifics are
// never joined. Words are split and joined only when spelt as listed:
// "Bashar Alasad" is a spelling variant of ALASSAD, a weak one.
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
	joins     map[string][]int32   // listed words written together → their token ids, in order (see queryForms)
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
		joins:     make(map[string][]int32),
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

// addName tokenises and indexes one name of entry i, and its spellings:
// with its hyphenated words written together, and an individual's with
// a word's other spelling in parentheses (see parenSpellings). It
// records the words of each, but the first, that may be written
// together (addJoins).
func (s *Screener) addName(i int32, name string) {
	s.addSpelling(i, name, name, false)
	s.addJoins(name)
	if joined := joinHyphens(name); joined != name {
		s.addSpelling(i, name, joined, true)
	}
	if s.entries[i].Type == SDNTypeIndividual {
		if without, instead, ok := parenSpellings(name); ok {
			s.addSpelling(i, name, without, true)
			s.addSpelling(i, name, instead, true)
			s.addJoins(without)
			s.addJoins(instead)
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
			n.surname = s.tokenOf(&n, firstWord(spelt[:c], surnameParticles))
			n.given = s.tokenOf(&n, firstWord(spelt[c+1:], givenTitles))
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
// threshold against name, or is a possible match (see Screener), one
// Match per entry (a match rather than a possible one), at most
// MaxScreenMatches: matches first, then possible matches, each best
// first (ties by EntNum). name is screened as written and with words
// written together split or joined (see Screener). Only the first
// MaxScreenTokens tokens of each (in NormalizeName's sorted order) are
// used.
func (s *Screener) Screen(name string) []Match {
	best := make(map[int32]Match) // entry index → best match
	forms := s.queryForms(name)
	var similar map[string][]tokenSim
	if len(forms) > 1 {
		similar = make(map[string][]tokenSim)
	}
	for _, q := range forms {
		s.screenTokens(q, best, similar)
	}
	if len(best) == 0 {
		return nil
	}
	out := make([]Match, 0, len(best))
	for _, m := range best {
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].before(out[b]) || out[b].before(out[a]) {
			return out[a].before(out[b])
		}
		return out[a].EntNum < out[b].EntNum
	})
	if len(out) > MaxScreenMatches {
		out = out[:MaxScreenMatches]
	}
	return out
}

// tokenSim is a listed token similar to a query token.
type tokenSim struct {
	id  int32
	sim float64
}

// similarTokens calls fn with each listed token similar to the query
// token t, of runes r, and its similarity.
func (s *Screener) similarTokens(t string, r []rune, fn func(id int32, sim float64)) {
	if len(r) <= ExactTokenRunes {
		if id, ok := s.vocabID[t]; ok {
			fn(id, 1)
		}
		return
	}
	for l := max(len(r)-maxLenDiff, ExactTokenRunes+1); l <= len(r)+maxLenDiff; l++ {
		for _, id := range s.byFirst[firstLen{r[0], l}] {
			if sim, ok := tokenSimilarity(r, s.vocab[id]); ok {
				fn(id, sim)
			}
		}
	}
}

// screenTokens screens the query tokens q (normalised) and records in
// best, by entry index, each entry's best match, or possible match,
// unless best already holds a better one. similar, if not nil, holds
// the listed tokens similar to query tokens already screened, and gets
// those of q's others: the forms of one name share most tokens.
func (s *Screener) screenTokens(q []string, best map[int32]Match, similar map[string][]tokenSim) {
	if len(q) > MaxScreenTokens {
		q = q[:MaxScreenTokens]
	}
	if len(q) == 0 {
		return
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
		if similar == nil {
			s.similarTokens(q[i], r, note)
			continue
		}
		found, ok := similar[q[i]]
		if !ok {
			s.similarTokens(q[i], r, func(id int32, sim float64) { found = append(found, tokenSim{id, sim}) })
			similar[q[i]] = found
		}
		for _, f := range found {
			note(f.id, f.sim)
		}
	}

	all := uint32(1)<<len(q) - 1
	for ni, mask := range hits {
		n := &s.names[ni]
		if len(q) <= len(n.tokens) && mask != all {
			continue
		}
		score, weak, ok := s.score(qr, qw, n, sims)
		possible := false
		switch {
		case ok && score >= s.threshold:
			// A match; resting on weak spelling variants, a possible one.
			possible = weak
		case PartialNameScore < s.threshold:
		case partial && partialName(qid, n), extraNames(qid, n):
			score, ok, possible = PartialNameScore, true, true
		}
		if !ok || score < s.threshold {
			continue
		}
		m := Match{MatchedName: n.name, Score: score, Partial: possible}
		if old, seen := best[n.entry]; !seen || m.before(old) || (m.Partial == old.Partial && score == old.Score && n.name < old.MatchedName) {
			e := s.entries[n.entry]
			m.EntNum, m.Entry = e.EntNum, e
			best[n.entry] = m
		}
	}
}

// before reports whether m ranks before o: a match before a possible
// match, then the higher score.
func (m Match) before(o Match) bool {
	if m.Partial != o.Partial {
		return !m.Partial
	}
	return m.Score > o.Score
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

// extraNames reports whether the query tokens qid (distinct, -1 for a
// token not on the list) hold every token of n, an individual's name
// with its surname known and at least two tokens, and at most
// MaxExtraNameTokens more (the extra-name rule, see Screener).
func extraNames(qid []int32, n *screenName) bool {
	extra := len(qid) - len(n.tokens)
	if n.surname < 0 || len(n.tokens) < 2 || extra < 1 || extra > MaxExtraNameTokens {
		return false
	}
	for _, id := range n.tokens {
		if !slices.Contains(qid, id) {
			return false
		}
	}
	return true
}

// score computes the similarity of the query tokens qr with name n (see
// Screener); qw holds the query tokens' own weights, 0 for a token not
// on the list. ok is false when no one-to-one pairing of similar tokens
// pairs every token of the shorter side. weak reports, for a score of at
// least the threshold, whether the match rests on weak pairs of the
// pairing (see weakness.weak).
//
// When each token's most similar token on the other side has it as its
// own most similar (mutual best partners, as for nearly every
// candidate), those pairs are the best pairing and the score is summed
// token by token; otherwise bestPairing finds it.
func (s *Screener) score(qr [][]rune, qw []float64, n *screenName, sims map[int32][]float64) (score float64, weak, ok bool) {
	var qBest [MaxScreenTokens]float64
	var qBestK [MaxScreenTokens]int32 // index into n.tokens of the token most similar to query token i
	// For the first MaxScreenTokens listed tokens with a similar query
	// token: the index into n.tokens, and that of the most similar query
	// token.
	var eK, eBestI [MaxScreenTokens]int32
	ePaired := 0 // listed tokens with a similar query token
	eSum := 0.0
	for k, id := range n.tokens {
		row := sims[id]
		if row == nil {
			continue
		}
		eBest, bi := 0.0, 0
		for i, sim := range row {
			if sim > eBest {
				eBest, bi = sim, i
			}
			if sim > qBest[i] {
				qBest[i], qBestK[i] = sim, int32(k)
			}
		}
		if ePaired < MaxScreenTokens {
			eK[ePaired], eBestI[ePaired] = int32(k), int32(bi)
		}
		ePaired++
		eSum += eBest * s.weights[id]
	}
	var qWeight [MaxScreenTokens]float64
	qSum, qTotal := 0.0, 0.0
	qPaired := 0 // query tokens with a similar listed token
	for i, r := range qr {
		w := qw[i]
		switch {
		case w > 0:
		case qBest[i] > 0: // a spelling not on the list: as common as the word it is most similar to
			w = tokenWeight(len(r), s.df[n.tokens[qBestK[i]]])
		default:
			w = tokenWeight(len(r), 0)
		}
		if qBest[i] > 0 {
			qPaired++
		}
		qWeight[i] = w
		qSum += qBest[i] * w
		qTotal += w
	}
	qAll, eAll := qPaired == len(qr), ePaired == len(n.tokens)
	switch {
	case len(qr) < len(n.tokens) && !qAll,
		len(n.tokens) < len(qr) && !eAll,
		len(qr) == len(n.tokens) && !(qAll && eAll):
		return 0, false, false
	}
	total := qTotal + n.weight
	mutual := ePaired == qPaired // then at most MaxScreenTokens, all in eK
	for j := 0; mutual && j < ePaired; j++ {
		mutual = qBestK[eBestI[j]] == eK[j]
	}
	if mutual {
		score = (qSum + eSum) / total
		if score < s.threshold {
			return score, false, true
		}
		var wk weakness
		for j := range ePaired {
			i, id := eBestI[j], n.tokens[eK[j]]
			s.addPair(&wk, n, sims[id][i], qr[i], qWeight[i], id)
		}
		return score, wk.weak(s.entries[n.entry].Type == SDNTypeIndividual), true
	}

	// Rows: the tokens of the shorter side (the query when equal), every
	// one with a similar token; columns: the tokens of the other side
	// that have one.
	var qIdx [MaxScreenTokens]int // query token of each query row or column
	nq := 0
	for i := range qr {
		if qBest[i] > 0 {
			qIdx[nq] = i
			nq++
		}
	}
	eIdx := make([]int, 0, ePaired) // listed token of each listed row or column
	for k, id := range n.tokens {
		if sims[id] != nil {
			eIdx = append(eIdx, k)
		}
	}
	queryRows := len(qr) <= len(n.tokens)
	rows, cols := nq, len(eIdx)
	if !queryRows {
		rows, cols = cols, rows
	}
	if cols < rows {
		return 0, false, false
	}
	val := make([]float64, rows*cols)
	for a := range nq {
		i := qIdx[a]
		for b, k := range eIdx {
			id := n.tokens[k]
			sim := sims[id][i]
			if sim == 0 {
				continue
			}
			v := sim * (qWeight[i] + s.weights[id])
			if queryRows {
				val[a*cols+b] = v
			} else {
				val[b*cols+a] = v
			}
		}
	}
	sum, colOf, ok := bestPairing(rows, cols, val)
	if !ok {
		return 0, false, false
	}
	if score = sum / total; score < s.threshold {
		return score, false, true
	}
	var wk weakness
	for r, c := range colOf {
		a, b := r, c // query and listed index
		if !queryRows {
			a, b = c, r
		}
		i, id := qIdx[a], n.tokens[eIdx[b]]
		s.addPair(&wk, n, sims[id][i], qr[i], qWeight[i], id)
	}
	return score, wk.weak(s.entries[n.entry].Type == SDNTypeIndividual), true
}

// weakness tallies the pairs of a pairing for a match (see Screener):
// how many and how heavy, and how many and how heavy of them are weak,
// and whether the listed surname is in a weak pair.
type weakness struct {
	pairs, weakPairs   int
	weight, weakWeight float64
	surname            bool
}

// addPair adds to wk the pair of query token q, of weight qw, with
// listed token id of name n, of similarity sim.
func (s *Screener) addPair(wk *weakness, n *screenName, sim float64, q []rune, qw float64, id int32) {
	w := qw + s.weights[id]
	wk.pairs++
	wk.weight += w
	if !s.weakPair(n, sim, q, s.vocab[id]) {
		return
	}
	wk.surname = wk.surname || id == n.surname
	wk.weakPairs++
	wk.weakWeight += w
}

// weak reports whether a match with the pairs of wk is only a possible
// match (see Screener): for an individual's name, the surname is in a
// weak pair or the weak pairs carry at least half the weight of the
// pairs; for another's, at least half the pairs are weak.
func (wk *weakness) weak(individual bool) bool {
	if wk.weakPairs == 0 {
		return false
	}
	if !individual {
		return 2*wk.weakPairs >= wk.pairs
	}
	return wk.surname || 2*wk.weakWeight >= wk.weight
}

// weakPair reports whether tokens a and b, of similarity sim, paired
// for a match of name n make it only a possible match (see Screener):
// they are similar but not equal, and n is not an individual's, or the
// shorter token has at most FuzzyReviewRunes runes, or it is the start
// of the longer.
func (s *Screener) weakPair(n *screenName, sim float64, a, b []rune) bool {
	if sim == 0 || sim == 1 {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return s.entries[n.entry].Type != SDNTypeIndividual || len(a) <= FuzzyReviewRunes || slices.Equal(a, b[:len(a)])
}

// bestPairing pairs each of rows rows with its own one of cols columns
// (rows <= cols) so that the sum of the values of the pairs is greatest,
// where val[r*cols+c] is the value of row r with column c, and 0 means
// the two cannot be paired. colOf is the column paired with each row.
// ok is false when no pairing pairs every row.
// It is the Hungarian algorithm with potentials, O(rows² × cols): a
// cannot-pair costs more than all values together, so that a pairing
// that has one is only chosen when there is no other.
func bestPairing(rows, cols int, val []float64) (sum float64, colOf []int, ok bool) {
	never := 1.0
	for _, v := range val {
		never += v
	}
	cost := func(r, c int) float64 { // r, c from 1
		if v := val[(r-1)*cols+c-1]; v > 0 {
			return -v
		}
		return never
	}
	u := make([]float64, rows+1)
	v := make([]float64, cols+1)
	minv := make([]float64, cols+1)
	p := make([]int, cols+1) // row paired with column j, 0 for none
	way := make([]int, cols+1)
	used := make([]bool, cols+1)
	for r := 1; r <= rows; r++ {
		p[0] = r
		j0 := 0
		for j := range minv {
			minv[j], used[j] = math.Inf(1), false
		}
		for {
			used[j0] = true
			r0, delta, j1 := p[j0], math.Inf(1), 0
			for j := 1; j <= cols; j++ {
				if used[j] {
					continue
				}
				if c := cost(r0, j) - u[r0] - v[j]; c < minv[j] {
					minv[j], way[j] = c, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= cols; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	colOf = make([]int, rows)
	for j := 1; j <= cols; j++ {
		if p[j] == 0 {
			continue
		}
		x := val[(p[j]-1)*cols+j-1]
		if x == 0 {
			return 0, nil, false
		}
		sum += x
		colOf[p[j]-1] = j - 1
	}
	return sum, colOf, true
}
