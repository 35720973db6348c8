package risk

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes bounds how much of a name NormalizeName looks at; longer
// input is cut at this many runes before normalising, so one hostile
// name cannot make screening slow.
const MaxNameRunes = 512

// noiseWords are tokens dropped by NormalizeName because they say what
// kind of organisation a name belongs to, or join words, rather than
// which one it is. Matching on them produced false positives in testing
// ("Global Export Ltd" against every "... LTD" on the list) and their
// absence or presence ("ACME LLC" versus "Acme") is not a different
// party. The list is applied to every name, individual or company:
// the tokens are not given names or surnames in the OFAC data.
//
// Tokens are compared after normalisation, where dots and apostrophes
// are deleted, so "S.A." is "sa", "S. de R.L." is "s de rl" and
// "C.V." is "cv". Single letters are kept: they are initials.
var noiseWords = map[string]bool{
	// English legal forms and their words.
	"co": true, "company": true, "corp": true, "corporation": true,
	"inc": true, "incorporated": true, "limited": true, "ltd": true,
	"llc": true, "llp": true, "lp": true, "plc": true, "liability": true,
	"joint": true, "stock": true, "pte": true, "pty": true,
	// Continental European and Latin American forms.
	"sa": true, "sas": true, "sarl": true, "srl": true, "rl": true,
	"spa": true, "sl": true, "cv": true, "ltda": true, "sociedad": true,
	"anonima": true, "gmbh": true, "ag": true, "kg": true, "bv": true,
	"nv": true, "oy": true, "ab": true,
	// Russian / CIS forms, transliterated and abbreviated.
	"ooo": true, "oao": true, "zao": true, "pao": true, "ao": true,
	"jsc": true, "ojsc": true, "cjsc": true, "pjsc": true, "jointstock": true,
	"obshchestvo": true, "ogranichennoi": true, "otvetstvennostyu": true,
	"aktsionernoe": true,
	// Middle East / Asia.
	"fze": true, "fzco": true, "fzc": true, "fzllc": true, "sal": true,
	"sdn": true, "bhd": true, "sirketi": true,
	// Connecting words.
	"the": true, "of": true, "and": true, "for": true, "de": true,
	"del": true, "la": true, "y": true, "ve": true, "und": true, "et": true,
}

// honorifics are salutations and generational suffixes, dropped by
// NormalizeName from a name with at least MinNameWords other words that
// are not noise words: "Mr Bashar al-Assad" is AL-ASSAD, Bashar, "Kim
// Jong Un Jr" KIM, Jong Un. With fewer they are kept, as part of the
// name: the list has "AHMED, DR.", "DR. KHAMIS", "SHAKRO JR." and
// "Mr. O", which would otherwise be any "Ahmed", "Khamis", "Shakro" or
// "O", and "MS-13". Roman numerals ("II", "III") are not among them: on
// the list they number vessels and companies ("SEA STAR III"), not
// generations.
var honorifics = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "mx": true, "messrs": true,
	"mme": true, "mlle": true, "sir": true, "dr": true,
	"jr": true, "jnr": true, "sr": true, "snr": true, "esq": true,
}

// MinNameWords is the least number of other words, not noise words, a
// name needs for its honorifics to be dropped.
const MinNameWords = 2

// foldRunes maps letters that carry no combining mark in Unicode, so
// that removing marks does not reach them, to their usual Latin
// spelling.
var foldRunes = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d",
	'ð': "d", 'þ': "th", 'ı': "i", 'ħ': "h",
}

// NormalizeName turns a person's or organisation's name into the tokens
// screening compares: lower case; diacritics removed (NFKD, then
// nonspacing marks dropped, so "Müller" is "muller" and "José" is
// "jose"); a few letters without marks folded ("ß" is "ss"); dots and
// apostrophes deleted so that abbreviations and transliterations stay
// one word ("S.A." is "sa", "SA'ID" is "said"); every other character
// that is not a letter or digit becomes a space; noise words (legal
// forms such as "ltd", "llc", "s.a.", "gmbh", and joining words such as
// "of", "de", "and") dropped unless nothing else is left; honorifics
// ("Mr", "Dr", "Jr") dropped when at least MinNameWords other words are
// left; duplicates removed; and the tokens sorted, so that word order
// does not matter: "PUTIN, Vladimir" and "Vladimir Putin" give the same
// tokens. Unicode format characters (category Cf: the soft hyphen,
// zero-width spaces and joiners) and the other default-ignorable code
// points (the Hangul fillers), which show as nothing, are deleted, so
// "HA\u00adMAS" and "HA\u3164MAS" are "hamas"; a hyphen, which shows, separates words
// ("al-assad" is "al", "assad"; the Screener also finds it written
// "alassad").
//
// It returns nil for a name with no letters or digits.
func NormalizeName(s string) []string {
	return normalizeWords(nameWords(s))
}

// normalizeWords is NormalizeName of the words all, as nameWords
// returns them; it may reorder all.
func normalizeWords(all []string) []string {
	if len(all) == 0 {
		return nil
	}
	names := 0 // words neither noise words nor honorifics
	for _, t := range all {
		if !noiseWords[t] && !honorifics[t] {
			names++
		}
	}
	toks := make([]string, 0, len(all))
	for _, t := range all {
		if !noiseWords[t] && (names < MinNameWords || !honorifics[t]) {
			toks = append(toks, t)
		}
	}
	if len(toks) == 0 {
		toks = all
	}
	sort.Strings(toks)
	return compactStrings(toks)
}

// surnameParticles are words that may open a listed individual's
// surname without being the part of it people write or search by: "AL"
// of "AL-ZAHRANI" (NormalizeName splits at the hyphen), "DI" of "DI
// LAURO", "BIN", "ABU", "VAN". "de", "del" and "la" are noise words
// already.
var surnameParticles = map[string]bool{
	"al": true, "el": true, "bin": true, "ben": true, "ibn": true, "abu": true,
	"di": true, "da": true, "van": true, "von": true, "le": true,
	"der": true, "den": true, "dos": true, "das": true, "du": true,
}

// givenTitles are titles and honorifics that open the given names of
// some listed individuals ("NOORZAI, Haji Bashir", "FADLALLAH, Shaykh
// Muhammad Husayn", "Seyed" on 17 names): not the first given name.
// Chosen from the first given words of the real SDN list; "said",
// "amir", "sultan" and "hafiz", there too, are also given names and are
// kept.
var givenTitles = map[string]bool{
	"dr": true, "doctor": true, "prof": true,
	"haji": true, "hajji": true, "hajj": true, "hadji": true, "alhaji": true, "alhaj": true,
	"shaykh": true, "sheikh": true, "shaikh": true, "sheik": true,
	"mullah": true, "mulla": true, "mawlawi": true, "maulawi": true, "mawlavi": true, "maulvi": true,
	"mufti": true, "qari": true,
	"general": true, "gen": true, "colonel": true, "col": true,
	"sayyid": true, "sayid": true, "sayed": true, "sayyed": true, "seyed": true, "seyyed": true, "syed": true,
}

// firstWord returns the first word of s, as NormalizeName spells it, that
// is neither a noise word, an honorific nor in skip; "" if there is
// none. When every word that is not a noise word is an honorific or in
// skip, the first of them is returned: a surname that is all particles,
// a given part that is only a title ("AHMED, DR.").
func firstWord(s string, skip map[string]bool) string {
	first := ""
	for _, w := range nameWords(s) {
		if noiseWords[w] {
			continue
		}
		if !skip[w] && !honorifics[w] {
			return w
		}
		if first == "" {
			first = w
		}
	}
	return first
}

// parenSpellings splits a name written with another spelling of one of
// its words in parentheses after the word, as "SANTOS, Ahmad (Ahmed)",
// into the name without the parentheses, "SANTOS, Ahmad", and the name
// with the other spelling instead of the word, "SANTOS, Ahmed". ok is
// false unless the name has exactly one pair of parentheses, holding
// one word and following one.
func parenSpellings(name string) (without, instead string, ok bool) {
	open, end := strings.IndexByte(name, '('), strings.IndexByte(name, ')')
	if open < 0 || end < open || strings.Count(name, "(") != 1 || strings.Count(name, ")") != 1 {
		return "", "", false
	}
	other := strings.TrimSpace(name[open+1 : end])
	before := strings.TrimRight(name[:open], " ")
	word := strings.LastIndexAny(before, " ,") + 1 // start of the word before the parentheses
	if len(nameWords(other)) != 1 || strings.ContainsAny(other, " ,") || len(nameWords(before[word:])) != 1 {
		return "", "", false
	}
	return before + name[end+1:], before[:word] + other + name[end+1:], true
}

// deletedInWord reports whether nameWords deletes r to keep a word
// whole: dots and apostrophes.
func deletedInWord(r rune) bool {
	switch r {
	case '.', '\'', '\u2019', '\u2018', '`', '\u00b4':
		return true
	}
	return false
}

// invisible reports whether r shows as nothing and nameWords deletes it:
// a format character (category Cf) or another default-ignorable code
// point (Unicode Other_Default_Ignorable_Code_Point: the Hangul fillers
// U+115F, U+1160, U+3164 and U+FFA0, letters that display as nothing,
// U+034F, U+17B4). Variation selectors, the rest of
// Default_Ignorable_Code_Point, are marks, deleted with them.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
}

// nameWords returns the words of s as NormalizeName spells them, in the
// order written, noise words and repeats included.
func nameWords(s string) []string {
	if n := utf8.RuneCountInString(s); n > MaxNameRunes {
		s = string([]rune(s)[:MaxNameRunes])
	}
	if !isASCII(s) {
		t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
		if out, _, err := transform.String(t, s); err == nil {
			s = out
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = unicode.ToLower(r)
		switch {
		case deletedInWord(r):
			// deleted: keeps abbreviations and transliterations whole
		case invisible(r):
			// deleted: invisible, so not a word break the reader sees
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if f, ok := foldRunes[r]; ok {
				b.WriteString(f)
			} else {
				b.WriteRune(r)
			}
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Fields(b.String())
}

// compactStrings removes adjacent duplicates from a sorted slice.
func compactStrings(s []string) []string {
	out := s[:1]
	for _, t := range s[1:] {
		if t != out[len(out)-1] {
			out = append(out, t)
		}
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// jaroWinklerBuf is the length up to which jaroWinkler works without
// allocating.
const jaroWinklerBuf = 64

// jaroWinkler returns the Jaro-Winkler similarity of a and b in [0,1]
// with the usual constants: prefix scale 0.1, prefix up to 4 runes,
// prefix boost applied only above a Jaro similarity of 0.7.
func jaroWinkler(a, b []rune) float64 {
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 {
		if la == lb {
			return 1
		}
		return 0
	}
	if la > lb {
		a, b, la, lb = b, a, lb, la
	}
	window := lb/2 - 1
	if window < 0 {
		window = 0
	}
	var abuf, bbuf [jaroWinklerBuf]bool
	var am, bm []bool
	if lb <= jaroWinklerBuf {
		am, bm = abuf[:la], bbuf[:lb]
	} else {
		am, bm = make([]bool, la), make([]bool, lb)
	}
	m := 0
	for i := 0; i < la; i++ {
		lo := max(0, i-window)
		hi := min(lb, i+window+1)
		for j := lo; j < hi; j++ {
			if !bm[j] && a[i] == b[j] {
				am[i], bm[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, k := 0, 0
	for i := 0; i < la; i++ {
		if !am[i] {
			continue
		}
		for !bm[k] {
			k++
		}
		if a[i] != b[k] {
			t++
		}
		k++
	}
	fm := float64(m)
	jaro := (fm/float64(la) + fm/float64(lb) + (fm-float64(t)/2)/fm) / 3
	if jaro <= 0.7 {
		return jaro
	}
	p := 0
	for p < 4 && p < la && a[p] == b[p] {
		p++
	}
	return jaro + float64(p)*0.1*(1-jaro)
}
