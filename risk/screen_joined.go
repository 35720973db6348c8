package risk

import (
	"slices"
	"strings"
	"unicode"
)

// Words written together (see Screener): the listed words a screened
// word may be written together, and the forms a name is screened in.

// addJoins records the words of spelt, a listed name indexed, that may
// be written together (see Screener): each two adjacent words of a part
// between commas, and each hyphenated run of up to MaxJoinedWords words.
func (s *Screener) addJoins(spelt string) {
	for part := range strings.SplitSeq(spelt, ",") {
		words := nameWords(part)
		for i := 0; i+1 < len(words); i++ {
			s.addJoin(words[i : i+2])
		}
		for chunk := range strings.FieldsFuncSeq(part, notInWord) {
			if run := nameWords(chunk); len(run) > 2 && len(run) <= MaxJoinedWords {
				s.addJoin(run)
			}
		}
	}
}

// notInWord reports whether r separates the hyphenated words of a name:
// whether it is neither a letter, a digit, a dash, a mark, nor a
// character nameWords deletes (invisible or within a word).
func notInWord(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.In(r, unicode.Pd, unicode.Mn) && !invisible(r) && !deletedInWord(r)
}

// joinHyphens returns name with its dashes deleted, so that hyphenated
// words are written together ("AL-ASSAD, Bashar" is "ALASSAD, Bashar").
func joinHyphens(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Pd, r) {
			return -1
		}
		return r
	}, name)
}

// addJoin records words, each a listed token, written together, unless
// other words written together are the same word: the first recorded
// is kept.
func (s *Screener) addJoin(words []string) {
	for _, w := range words {
		if !joinable(w) {
			return
		}
	}
	j := strings.Join(words, "")
	if s.joins[j] != nil {
		return
	}
	ids := make([]int32, len(words))
	for i, w := range words {
		id, ok := s.vocabID[w]
		if !ok {
			return // cut off by MaxNameRunes
		}
		ids[i] = id
	}
	s.joins[j] = ids
}

// joinable reports whether w may be one of words written together: not
// a noise word nor an honorific.
func joinable(w string) bool {
	return !noiseWords[w] && !honorifics[w]
}

// queryForms returns the tokens Screen screens for name (see
// Screener): NormalizeName's; the tokens with each word that is not a
// listed word but is listed words written together split into them;
// the tokens with every word that is listed words written together
// split, listed or not; and the tokens with adjacent words joined where
// together they are a listed word, the longest run first. A form the
// same as the one before it is left out. A listed word here is one of a
// name as listed, not only of a spelling: a word of a name indexed with
// its hyphens deleted ("ALASSAD") needs no other form to be found, as
// the name is indexed as written too.
func (s *Screener) queryForms(name string) [][]string {
	words := nameWords(name)
	forms := [][]string{normalizeWords(slices.Clone(words))}
	add := func(form []string) {
		if form != nil {
			if form = normalizeWords(form); !slices.Equal(form, forms[len(forms)-1]) {
				forms = append(forms, form)
			}
		}
	}
	add(s.splitWords(words, false))
	add(s.splitWords(words, true))
	var joined []string
	for i := 0; i < len(words); i++ {
		run := 1
		for k := min(MaxJoinedWords, len(words)-i); k > 1 && run == 1; k-- {
			if s.joinedWord(words[i : i+k]) {
				run = k
			}
		}
		if run > 1 && joined == nil {
			joined = append(make([]string, 0, len(words)), words[:i]...)
		}
		if joined != nil {
			joined = append(joined, strings.Join(words[i:i+run], ""))
		}
		i += run - 1
	}
	add(joined)
	return forms
}

// splitWords returns words with each that is listed words written
// together split into them, only those not listed words themselves
// unless listed is set; nil if none is.
func (s *Screener) splitWords(words []string, listed bool) []string {
	var out []string
	for i, w := range words {
		ids := s.joins[w]
		if ids != nil && !listed && s.listedWord(w) {
			ids = nil
		}
		if ids == nil {
			if out != nil {
				out = append(out, w)
			}
			continue
		}
		if out == nil {
			out = append(make([]string, 0, len(words)+len(ids)), words[:i]...)
		}
		for _, id := range ids {
			out = append(out, string(s.vocab[id]))
		}
	}
	return out
}

// joinedWord reports whether words, each joinable, written together are
// a listed word.
func (s *Screener) joinedWord(words []string) bool {
	for _, w := range words {
		if !joinable(w) {
			return false
		}
	}
	var buf [64]byte // written together without allocating, mostly
	j := buf[:0]
	for _, w := range words {
		j = append(j, w...)
	}
	id, ok := s.vocabID[string(j)] // no allocation for the key
	return ok && s.df[id] > 0      // listedWord
}

// listedWord reports whether w is a word of a name as listed, not only
// of a spelling of one (see queryForms).
func (s *Screener) listedWord(w string) bool {
	id, ok := s.vocabID[w]
	return ok && s.df[id] > 0
}
