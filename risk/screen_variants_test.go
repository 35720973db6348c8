package risk

import "testing"

// variantCase is a listed name written with a variant, the entry it
// must find, and whether as a match (block) rather than a possible
// match (review).
type variantCase struct {
	query  string
	entNum int
	block  bool
}

// checkVariants screens each case's name with s: it must find the
// entry, as a match or a possible match as the case says.
func checkVariants(t *testing.T, s *Screener, tests []variantCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := s.Screen(tt.query)
			for _, m := range got {
				if m.EntNum == tt.entNum {
					if m.Partial == tt.block {
						t.Errorf("Screen(%q): %d %q at %.3f, possible match %v; want block %v", tt.query, m.EntNum, m.MatchedName, m.Score, m.Partial, tt.block)
					}
					return
				}
			}
			t.Errorf("Screen(%q) = %+v, does not find listed entry %d", tt.query, got, tt.entNum)
		})
	}
}

// TestScreenInvisibleCharacters: a listed name with a Unicode format
// character (category Cf), which shows as nothing, inside a word is
// still found. In review, "HA\u00adMAS" and "Bashar al-As\u200bsad"
// were not: the character split the word in two.
func TestScreenInvisibleCharacters(t *testing.T) {
	checkVariants(t, loadRealScreener(t), []variantCase{
		{"HA\u00adMAS", 4695, true},            // soft hyphen
		{"Bashar al-As\u200bsad", 12735, true}, // zero-width space
		{"Kim Jong\u200c Un", 20157, true},     // zero-width non-joiner before a space
		{"Hiz\u2060ballah", 4697, true},        // word joiner
		{"\ufeffHamas", 4695, true},            // byte order mark
	})
}

// TestScreenHonorifics: a listed name with a salutation or a suffix is
// still found. In review, "Mr Bashar al-Assad" and "Kim Jong Un Jr"
// were not: the extra word lowered the score under the threshold.
func TestScreenHonorifics(t *testing.T) {
	checkVariants(t, loadRealScreener(t), []variantCase{
		{"Mr Bashar al-Assad", 12735, true},
		{"Dr. Bashar al-Assad", 12735, true},
		{"Mrs Asma al-Assad", 29068, true},
		{"Kim Jong Un Jr", 20157, true},
		{"Vladimir Vladimirovich Putin Jr.", 35096, true},
		{"Mr. Vladimir Putin", 35096, false}, // and the partial-name rule
	})
}
