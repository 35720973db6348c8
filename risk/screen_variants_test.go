package risk

import (
	"strings"
	"testing"
	"time"
)

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

// TestScreenWordsWrittenTogether: a listed name with words written
// together that are apart on the list, with or without a hyphen, or
// apart that are together, is found. In review, "Bashar Alassad",
// "Sayf Aladl", "United Selfdefense Forces of Colombia", "Asbat
// Alansar" and "Kim Jongun" were not.
func TestScreenWordsWrittenTogether(t *testing.T) {
	checkVariants(t, loadRealScreener(t), []variantCase{
		// Hyphen dropped.
		{"Bashar Alassad", 12735, true},                       // AL-ASSAD, Bashar
		{"Sayf Aladl", 6901, true},                            // AL-ADL, Sayf
		{"United Selfdefense Forces of Colombia", 6895, true}, // UNITED SELF-DEFENSE FORCES OF COLOMBIA
		{"Asbat Alansar", 6896, true},                         // ASBAT AL-ANSAR
		{"Asma Alassad", 29068, true},                         // AL-ASSAD, Asma
		{"Jaishi Mohammed", 6935, true},                       // JAISH-I-MOHAMMED: a single letter too
		// Two listed words written together, no hyphen on the list.
		{"Kim Jongun", 20157, true},      // KIM, Jong Un
		{"Ayman Alzawahiri", 2676, true}, // AL ZAWAHIRI, Dr. Ayman
		{"Alqaida", 6366, true},          // AL QA'IDA
		// A hyphen the list does not have.
		{"Ayman al-Zawahiri", 2676, true},
		// Written together and misspelt: a weak spelling variant of
		// ALASSAD, a possible match.
		{"Bashar Alasad", 12735, false},
	})
}

// TestScreenHyphenatedNamesJoined screens every hyphenated name of the
// real list written with its hyphens deleted ("AL-ASSAD, Bashar" as
// "ALASSAD, Bashar"): each must match its entry. In review, 1,663 of the
// 1,729 were not found.
func TestScreenHyphenatedNamesJoined(t *testing.T) {
	s := loadRealScreener(t)
	names, missed := 0, 0
	for _, e := range s.entries {
		for _, name := range append([]string{e.Name}, e.Aliases...) {
			if !strings.Contains(name, "-") {
				continue
			}
			names++
			query := strings.ReplaceAll(name, "-", "")
			found := false
			for _, m := range s.Screen(query) {
				found = found || (m.EntNum == e.EntNum && !m.Partial)
			}
			if !found {
				missed++
				t.Errorf("Screen(%q) does not match %d %q", query, e.EntNum, name)
			}
		}
	}
	if names < 1700 {
		t.Errorf("%d hyphenated names, want the real list's 1,729", names)
	}
	t.Logf("%d hyphenated names written together, %d not matched", names, missed)
}

// TestScreenExtraNames: a listed individual's name with other names
// added is a possible match. In review, "Bashar Hafez al-Assad" was not
// found: the extra word lowered the score under the threshold.
func TestScreenExtraNames(t *testing.T) {
	checkVariants(t, loadRealScreener(t), []variantCase{
		{"Bashar Hafez al-Assad", 12735, false},
		{"Bashar bin Hafez al-Assad", 12735, false},
		{"Kim Jong Un III", 20157, false},
		{"Joaquin El Chapo Guzman Loera", 6861, false},
	})
}

// ordinaryNotBlocked are ordinary names, across languages, that must not
// be matches (blocks): the first six were blocks found in review, each
// through a name spelt almost like a different one ("Moore" and MORENO,
// "Carlos" and CAROL, "Maria" and MAZIAR, "Martin" and MARTINEZ,
// "Davis" and DAVID) or a person's name spelt almost like a company's
// (ANDREA MARTINA LIMITED). Possible matches (review) are allowed.
var ordinaryNotBlocked = []string{
	"Daniel Moore", "Carlos Zhou", "Maria Karimi", "Miguel Martin", "Andrei Martin", "Wei Davis",
	"María Karimi", "Andrei Martinez", "Andrea Martínez", "Andrés Martín", "Andrew Martin", "Andrei Johnson",
	"Ahmed Ali", "Ali Ahmed", "Karim Ahmed", "Karim Hassan", "Karim Ali", "Amir Ahmadi",
	"Hussein Abdullah", "Khalid Hassan", "Khalid Mansour", "Mohammed Mahmoud", "Xin Young", "María Gómez",
	"Alexander Sokolov", "Mikhail Ivanov", "Ahmed Ahmed", "Dmitri Petrov", "Olga Smirnova", "Hans Müller",
	"Pierre Dubois", "Marie Laurent", "Giulia Rossi", "Jan Kowalski", "Nguyen Van An", "Priya Patel",
	"Yuki Tanaka", "Kwame Mensah", "Chinedu Okafor", "Fatima Zahra", "Layla Hassan", "Omar Farouk",
	"Mr John Smith", "Dr Sarah Johnson", "Robert Brown Jr",
}

func TestScreenOrdinaryNamesNotBlocked(t *testing.T) {
	s := loadRealScreener(t)
	for _, name := range ordinaryNotBlocked {
		t.Run(name, func(t *testing.T) {
			for _, m := range s.Screen(name) {
				if !m.Partial {
					t.Errorf("Screen(%q) = match %d %q at %.3f (a block)", name, m.EntNum, m.MatchedName, m.Score)
				}
			}
		})
	}
}

// gridFirst and gridLast are 60 common first names and 70 common
// surnames of several languages, for TestScreenOrdinaryNameGrid.
var (
	gridFirst = []string{"James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
		"Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
		"José", "Juan", "Carlos", "Luis", "Miguel", "María", "Ana", "Lucía", "Sofía", "Javier",
		"Mohammed", "Ahmed", "Ali", "Omar", "Fatima", "Aisha", "Hassan", "Yusuf", "Layla", "Karim",
		"Wei", "Li", "Jing", "Min", "Hui", "Yan", "Jun", "Lei", "Xin", "Tao",
		"Sergei", "Andrei", "Olga", "Natalia", "Dmitri", "Ivan", "Pierre", "Marie", "Hans", "Anna"}
	gridLast = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
		"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
		"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
		"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
		"Khan", "Ahmed", "Hassan", "Ali", "Hussein", "Karimi", "Rahman", "Ivanov", "Petrov", "Smirnov",
		"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Laurent", "Rossi", "Russo", "Kowalski"}
)

// gridTransliterations are the names of gridFirst × gridLast that match
// a listed name through a spelling variant rather than with the same
// words: the same names in another transliteration, which screening is
// for. Every other match of the grid must be the same words as a
// listed name (score 1), which a reviewer clears.
var gridTransliterations = map[string]int{
	"Mohammed Hassan": 39520, // "HASSAN, Mohamed" 0.961
	"Omar Hussein":    18595, // "HUSSAIN, Omar" 0.961
	"Ahmed Karimi":    40605, // "KARIMI, Ahmad" 0.970: the surname as listed
}

// TestScreenOrdinaryNameGrid screens the 4,200 names of gridFirst ×
// gridLast: none may be a match through spelling variants but
// gridTransliterations. Before matches resting on weak spelling
// variants became possible ones, 16 were.
func TestScreenOrdinaryNameGrid(t *testing.T) {
	s := loadRealScreener(t)
	exact, possible := 0, 0
	for _, f := range gridFirst {
		for _, l := range gridLast {
			name := f + " " + l
			got := s.Screen(name)
			switch {
			case len(got) == 0:
			case got[0].Partial:
				possible++
			case got[0].Score == 1:
				exact++
			}
			for _, m := range got {
				if !m.Partial && m.Score < 1 && gridTransliterations[name] != m.EntNum {
					t.Errorf("Screen(%q) = match %d %q at %.3f through a spelling variant", name, m.EntNum, m.MatchedName, m.Score)
				}
			}
		}
	}
	t.Logf("%d names: %d the same words as a listed name, %d possible matches", len(gridFirst)*len(gridLast), exact, possible)
}

// smallListCase is a name screened against a small list, the entry it
// must find first (0: nothing) and whether as a possible match.
type smallListCase struct {
	query    string
	entNum   int
	possible bool
}

// checkSmallList screens each case's name with a Screener over entries.
func checkSmallList(t *testing.T, entries []SanctionsEntry, tests []smallListCase) {
	t.Helper()
	s, err := NewScreener(entries, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := s.Screen(tt.query)
			switch {
			case tt.entNum == 0 && len(got) != 0:
				t.Errorf("Screen(%q) = %+v, want nothing", tt.query, got)
			case tt.entNum == 0:
			case len(got) == 0 || got[0].EntNum != tt.entNum || got[0].Partial != tt.possible:
				t.Errorf("Screen(%q) = %+v, want %d, possible %v", tt.query, got, tt.entNum, tt.possible)
			}
		})
	}
}

// TestScreenWeakVariants checks on a small list which spelling variants
// make a match only a possible one (see Screener).
func TestScreenWeakVariants(t *testing.T) {
	checkSmallList(t, []SanctionsEntry{
		{EntNum: 1, Name: "WEI, David", Type: SDNTypeIndividual},
		{EntNum: 2, Name: "ANDREA MARTINA LIMITED", Type: SDNTypeEntity},
		{EntNum: 3, Name: "MARTINEZ, Miguel", Type: SDNTypeIndividual},
		{EntNum: 4, Name: "RODRIGUEZ OREJUELA, Gilberto Jose", Type: SDNTypeIndividual},
		{EntNum: 5, Name: "MOHAMMED, Khalid Shaikh", Type: SDNTypeIndividual},
	}, []smallListCase{
		{"Wei Davis", 1, true},     // a short word
		{"David Wei", 1, false},    // the same words
		{"Andrei Martin", 2, true}, // an entity's words
		{"Andrea Martina", 2, false},
		{"Miguel Martin", 3, true}, // MARTINEZ starts with "Martin"
		{"Gilberto Jose Rodriges Orejuela", 4, false},
		{"Khalid Sheikh Mohammed", 5, false}, // one weak pair of three
	})
}

// TestScreenSmallListWordsWrittenTogether checks on a small list the
// words written together and apart (see Screener).
func TestScreenSmallListWordsWrittenTogether(t *testing.T) {
	checkSmallList(t, []SanctionsEntry{
		{EntNum: 1, Name: "AL-ASSAD, Bashar", Type: SDNTypeIndividual},
		{EntNum: 2, Name: "KIM, Jong Un", Type: SDNTypeIndividual},
		{EntNum: 3, Name: "ALQAIDA", Type: SDNTypeEntity},
		{EntNum: 4, Name: "TALEEM-UL-QURAN-WAL-HADITH", Type: SDNTypeEntity},
	}, []smallListCase{
		{"Bashar Alassad", 1, false}, // the listed name indexed with its hyphen deleted
		{"Bashar Alasad", 1, true},   // that spelling misspelt: a short word, a weak variant
		{"Kim Jongun", 2, false},     // listed words written together split
		{"Al Qaida", 3, false},       // query words written together
		{"Al-Qaida", 3, false},       // and hyphenated
		{"Taleemulquranwalhadith", 4, false},
		{"Taleem Ul Quran Wal Hadith", 4, false},
		{"Kimjongun", 0, false}, // not across the comma
	})
}

// TestScreenSmallListExtraNames checks on a small list the extra-name
// rule (see Screener).
func TestScreenSmallListExtraNames(t *testing.T) {
	checkSmallList(t, []SanctionsEntry{
		{EntNum: 1, Name: "AL-ASSAD, Bashar", Type: SDNTypeIndividual},
		{EntNum: 2, Name: "BANCO NACIONAL", Type: SDNTypeEntity},
		{EntNum: 3, Name: "HUSSEIN, Hussein", Type: SDNTypeIndividual},
		{EntNum: 4, Name: "SOKOLOV, Aleksandr", Type: SDNTypeIndividual},
	}, []smallListCase{
		{"Bashar Hafez al-Assad", 1, true},
		{"Bashar bin Hafez al-Assad", 1, true},
		{"Bashar Hafez bin Ali al-Assad", 0, false}, // more than MaxExtraNameTokens
		{"Mr Bashar al-Assad", 1, false},            // an honorific is not another word
		{"Banco Nacional de Cuba", 0, false},        // an entity
		{"Hussein Ali", 0, false},                   // "HUSSEIN, Hussein" is one word
		{"Aleksandr Ivanovich Sokolov", 4, true},
		{"Alexander Ivanovich Sokolov", 0, false}, // spelt otherwise
	})
}

// TestGateBlocksListedNameVariants: end to end, the release of an
// established seller whose name is a listed name written with a
// salutation, with words written together, or with an invisible
// character is blocked. In review these were approved: the money was
// paid to a sanctioned party.
func TestGateBlocksListedNameVariants(t *testing.T) {
	e := newEnv(t)
	e.loadRealList()
	e.establish("b", "s")
	for _, name := range []string{"Mr Bashar al-Assad", "Bashar Alassad", "Bashar al-As\u200bsad"} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			r := e.newRelease("b", "s")
			r.escrowID = e.observe("b", "s", "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
			r.sellerName = name
			if d := e.decide(r); d.Outcome != OutcomeBlock {
				t.Errorf("release to seller %q: %s %v, want block (sanctions_match, AL-ASSAD, Bashar)", name, d.Outcome, reasonCodes(d.Decision))
			}
		})
	}
}
