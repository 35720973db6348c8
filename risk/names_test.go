package risk

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"PUTIN, Vladimir", []string{"putin", "vladimir"}},
		{"Vladimir  Putin", []string{"putin", "vladimir"}},
		{"Gilberto José Rodríguez Orejuela", []string{"gilberto", "jose", "orejuela", "rodriguez"}},
		{"Müller Handels AG", []string{"handels", "muller"}},
		{"Straße Ærø Łódź", []string{"aero", "lodz", "strasse"}},
		{"CIMEX, S.A.", []string{"cimex"}},
		{"COMERCIAL DE RODAJES Y MAQUINARIA, S.A.", []string{"comercial", "maquinaria", "rodajes"}},
		{"ANGLO-CARIBBEAN CO., LTD.", []string{"anglo", "caribbean"}},
		{"LIMITED LIABILITY COMPANY SBERBANK CAPITAL", []string{"capital", "sberbank"}},
		{"PRIVATE JOINTSTOCK COMPANY MAKO HOLDING", []string{"holding", "mako", "private"}}, // JOINT-STOCK written together
		{"Grupo X, S. de R.L. de C.V.", []string{"grupo", "s", "x"}},
		{"ABU-'UMAR", []string{"abu", "umar"}},
		{"Sa’id al-Qahtani", []string{"al", "qahtani", "said"}},
		{"DOCTOR M.R.O.", []string{"doctor", "mro"}},
		{"GARCIA GARCIA, Maria", []string{"garcia", "maria"}},
		{"ＡＣＭＥ Trading", []string{"acme", "trading"}},
		{"محمد علي", []string{"علي", "محمد"}},
		{"SEA STAR III", []string{"iii", "sea", "star"}},
		{"YARD NO. 1220", []string{"1220", "no", "yard"}},
		// Invisible format characters (Cf) inside a word are deleted.
		{"HA\u00adMAS", []string{"hamas"}},                           // soft hyphen
		{"Bashar al-As\u200bsad", []string{"al", "assad", "bashar"}}, // zero-width space
		{"\ufeffKim Jong\u200dUn\u2060", []string{"jongun", "kim"}},  // BOM, zero-width joiner (reads "JongUn"), word joiner
		// Honorifics are dropped from a name with two other words.
		{"Mr Bashar al-Assad", []string{"al", "assad", "bashar"}},
		{"Kim Jong Un Jr.", []string{"jong", "kim", "un"}},
		{"Mrs. Asma Al-Assad", []string{"al", "asma", "assad"}},
		{"AL ZAWAHIRI, Dr. Ayman", []string{"al", "ayman", "zawahiri"}},
		{"AHMED, DR.", []string{"ahmed", "dr"}}, // one other word: kept
		{"SHAKRO JR.", []string{"jr", "shakro"}},
		{"MS-13", []string{"13", "ms"}},
		{"Mr Smith Ltd", []string{"mr", "smith"}}, // noise words do not count
		{"LTD.", []string{"ltd"}},                 // nothing but noise: kept
		{"The Company", []string{"company", "the"}},
		{"", nil},
		{" -- , ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := NormalizeName(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeNameLong(t *testing.T) {
	got := NormalizeName(strings.Repeat("ab ", 10*MaxNameRunes))
	if !slices.Equal(got, []string{"ab"}) {
		t.Errorf("got %q", got)
	}
	if n := len(NormalizeName(strings.Repeat("é", 2*MaxNameRunes))[0]); n != MaxNameRunes {
		t.Errorf("token of %d bytes, want input cut at %d runes", n, MaxNameRunes)
	}
}

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961},
		{"dwayne", "duane", 0.840},
		{"dixon", "dicksonx", 0.813},
		{"jellyfish", "smellyfish", 0.896},
		{"same", "same", 1},
		{"abc", "xyz", 0},
		{"", "", 1},
		{"a", "", 0},
		{strings.Repeat("a", 100), strings.Repeat("a", 99) + "b", 0.996},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			got := jaroWinkler([]rune(tt.a), []rune(tt.b))
			if math.Abs(got-tt.want) > 0.0005 {
				t.Errorf("jaroWinkler = %.4f, want %.3f", got, tt.want)
			}
			if back := jaroWinkler([]rune(tt.b), []rune(tt.a)); back != got {
				t.Errorf("not symmetric: %.4f and %.4f", got, back)
			}
		})
	}
}

func TestTokenSimilarity(t *testing.T) {
	tests := []struct {
		a, b  string
		match bool
	}{
		{"hassan", "hasan", true},
		{"mohammad", "muhammad", true},
		{"rodriguez", "rodrigues", true},
		{"mousa", "musa", true},
		{"bnc", "bnc", true},
		{"bnc", "bng", false},   // short: exact only
		{"li", "lu", false},     // short: exact only
		{"juan", "jian", false}, // four letters, one changed
		{"ivanov", "ivanovich", false},
		{"petrov", "petroliance", false},
		{"sergey", "sergeevich", false},
		{"alexander", "alexandrovich", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			sim, ok := tokenSimilarity([]rune(tt.a), []rune(tt.b))
			if ok != tt.match {
				t.Errorf("tokenSimilarity = %.3f, %v; want match %v", sim, ok, tt.match)
			}
		})
	}
}
