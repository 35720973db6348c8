package risk

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Limits on an SDN file. The real list (2024) has about 15,000 entries
// in about 4 MB, with Remarks cut at 1,000 characters.
const (
	// MaxSDNEntries is the most entries ParseSDN accepts.
	MaxSDNEntries = 100000
	// MaxSDNBytes is the most bytes ParseSDN reads.
	MaxSDNBytes = 128 << 20
	// MaxSDNFieldBytes is the longest field ParseSDN accepts.
	MaxSDNFieldBytes = 16 << 10
	// MaxSDNAliases is the most aliases kept for one entry.
	MaxSDNAliases = 200
)

// SDN entry types. The file leaves the type empty ("-0-") for entities;
// ParseSDN reports those as SDNTypeEntity.
const (
	SDNTypeIndividual = "individual"
	SDNTypeEntity     = "entity"
	SDNTypeVessel     = "vessel"
	SDNTypeAircraft   = "aircraft"
)

// sdnColumns are the columns of OFAC's sdn.csv, in order.
var sdnColumns = [...]string{
	"ent_num", "SDN_Name", "SDN_Type", "Program", "Title", "Call_Sign",
	"Vess_type", "Tonnage", "GRT", "Vess_flag", "Vess_owner", "Remarks",
}

// SanctionsEntry is one entry of the OFAC Specially Designated Nationals
// list.
type SanctionsEntry struct {
	// EntNum is OFAC's unique entry number.
	EntNum int
	// Name is the primary name as listed; individuals are "LAST, First".
	Name string
	// Type is one of the SDNType constants.
	Type string
	// Programs are the sanctions programs, e.g. ["SDGT", "IRGC"].
	Programs []string
	// Aliases are the names given in Remarks as a.k.a., f.k.a. or n.k.a.
	Aliases []string
	// Remarks is the Remarks column as it was, empty for "-0-".
	Remarks string
}

// Fingerprint identifies what the entry says: its names, type, programs
// and remarks (16 hex digits of a SHA-256 over them, each field
// length-prefixed). A clearance of a match is bound to it, so that a list
// that changes the entry brings the match back for review.
func (e SanctionsEntry) Fingerprint() string {
	h := sha256.New()
	field := func(s string) { h.Write([]byte(strconv.Itoa(len(s)) + ":" + s)) }
	field(e.Name)
	field(e.Type)
	programs := slices.Clone(e.Programs)
	slices.Sort(programs)
	aliases := slices.Clone(e.Aliases)
	slices.Sort(aliases)
	for _, list := range [][]string{programs, aliases} {
		field(strconv.Itoa(len(list)))
		for _, x := range list {
			field(x)
		}
	}
	field(e.Remarks)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// ErrSDNFormat is wrapped by every *SDNParseError caused by the content
// of the file (as opposed to an error reading it).
var ErrSDNFormat = errors.New("malformed SDN file")

// ErrSDNTooLarge is wrapped by the *SDNParseError returned when a file
// passes MaxSDNEntries, MaxSDNBytes or MaxSDNFieldBytes.
var ErrSDNTooLarge = errors.New("SDN file too large")

// SDNParseError reports where in an SDN file parsing failed.
type SDNParseError struct {
	// Line is the 1-based line of the record, 0 if unknown.
	Line int
	// Column is the column name (see sdnColumns), empty for the record.
	Column string
	// Err is the cause; it wraps ErrSDNFormat or ErrSDNTooLarge for
	// content problems, or the reader's error.
	Err error
}

// Error implements error.
func (e *SDNParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("sdn line %d: %s: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("sdn line %d: %v", e.Line, e.Err)
}

// Unwrap returns the cause.
func (e *SDNParseError) Unwrap() error { return e.Err }

// ParseSDN reads an OFAC SDN list in sdn.csv format: no header, twelve
// columns (see SanctionsEntry), "-0-" (with or without trailing spaces)
// for an empty field, CRLF line ends and an optional trailing DOS
// end-of-file byte (0x1A), as OFAC publishes it. A header row starting
// with "ent_num" is skipped if present.
//
// OFAC has published the file both as ASCII/UTF-8 and as Windows-1252
// (a superset of Latin-1). Each field that is valid UTF-8 is taken as
// UTF-8; any other field is decoded as Windows-1252. (A Windows-1252
// accented letter followed by the right continuation bytes could pass
// as UTF-8; real names do not contain such pairs.)
//
// Aliases are read from Remarks: each "a.k.a. 'NAME'", "f.k.a. 'NAME'"
// or "n.k.a. 'NAME'" gives NAME. An alias whose closing quote is
// missing, because OFAC cut Remarks at 1,000 characters, is dropped
// rather than kept as a fragment.
//
// Errors are *SDNParseError naming the line.
func ParseSDN(r io.Reader) ([]SanctionsEntry, error) {
	lr := &limitedReader{r: r, n: MaxSDNBytes}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []SanctionsEntry
	seen := make(map[int]int) // ent_num → line
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, sdnReadError(err, lr)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.Trim(rec[0], "\x1a \t") == "" {
			continue // DOS end-of-file marker or a line of blanks
		}
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "ent_num") {
			continue
		}
		if len(out) == MaxSDNEntries {
			return nil, &SDNParseError{Line: line, Err: fmt.Errorf("%w: more than %d entries", ErrSDNTooLarge, MaxSDNEntries)}
		}
		e, err := parseSDNRecord(rec, line)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[e.EntNum]; dup {
			return nil, &SDNParseError{Line: line, Column: sdnColumns[0],
				Err: fmt.Errorf("%w: ent_num %d already on line %d", ErrSDNFormat, e.EntNum, prev)}
		}
		seen[e.EntNum] = line
		out = append(out, e)
	}
	return out, nil
}

// sdnReadError turns an error from csv.Reader into an *SDNParseError.
func sdnReadError(err error, lr *limitedReader) error {
	if lr.exceeded {
		return &SDNParseError{Err: fmt.Errorf("%w: more than %d bytes", ErrSDNTooLarge, MaxSDNBytes)}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &SDNParseError{Line: pe.Line, Err: fmt.Errorf("%w: %w", ErrSDNFormat, pe.Err)}
	}
	return &SDNParseError{Err: fmt.Errorf("reading SDN file: %w", err)}
}

// parseSDNRecord converts one CSV record.
func parseSDNRecord(rec []string, line int) (SanctionsEntry, error) {
	if len(rec) != len(sdnColumns) {
		return SanctionsEntry{}, &SDNParseError{Line: line,
			Err: fmt.Errorf("%w: %d fields, want %d", ErrSDNFormat, len(rec), len(sdnColumns))}
	}
	var f [len(sdnColumns)]string
	for i, v := range rec {
		if len(v) > MaxSDNFieldBytes {
			return SanctionsEntry{}, &SDNParseError{Line: line, Column: sdnColumns[i],
				Err: fmt.Errorf("%w: field longer than %d bytes", ErrSDNTooLarge, MaxSDNFieldBytes)}
		}
		if strings.IndexByte(v, 0) >= 0 { // no database text takes it
			return SanctionsEntry{}, &SDNParseError{Line: line, Column: sdnColumns[i], Err: fmt.Errorf("%w: contains a NUL character", ErrSDNFormat)}
		}
		f[i] = sdnField(v)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 {
		return SanctionsEntry{}, &SDNParseError{Line: line, Column: sdnColumns[0],
			Err: fmt.Errorf("%w: %q is not a positive integer", ErrSDNFormat, f[0])}
	}
	if f[1] == "" {
		return SanctionsEntry{}, &SDNParseError{Line: line, Column: sdnColumns[1], Err: fmt.Errorf("%w: empty name", ErrSDNFormat)}
	}
	typ := strings.ToLower(f[2])
	switch typ {
	case "":
		typ = SDNTypeEntity
	case SDNTypeIndividual, SDNTypeVessel, SDNTypeAircraft, SDNTypeEntity:
	default:
		return SanctionsEntry{}, &SDNParseError{Line: line, Column: sdnColumns[2],
			Err: fmt.Errorf("%w: unknown type %q", ErrSDNFormat, f[2])}
	}
	return SanctionsEntry{
		EntNum:   n,
		Name:     f[1],
		Type:     typ,
		Programs: splitPrograms(f[3]),
		Aliases:  parseAliases(f[11], f[1]),
		Remarks:  f[11],
	}, nil
}

// sdnField decodes a raw field (see ParseSDN on encodings), trims it and
// maps "-0-" to "".
func sdnField(v string) string {
	if !utf8.ValidString(v) {
		if d, err := charmap.Windows1252.NewDecoder().String(v); err == nil {
			v = d
		}
	}
	v = strings.TrimSpace(v)
	if v == "-0-" {
		return ""
	}
	return v
}

// splitPrograms splits the Program column, written "SDGT] [IRGC" for
// several programs.
func splitPrograms(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, "] [") {
		p = strings.Trim(p, "[] ")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// aliasStart finds the start of each alias in Remarks.
var aliasStart = regexp.MustCompile(`\b[afn]\.k\.a\.\s*'`)

// parseAliases returns the names quoted after a.k.a./f.k.a./n.k.a. in
// remarks, without duplicates or repeats of the primary name. An alias
// ends at a quote followed by ";", ".", ",", ")" or the end of the
// text, so quotes inside a name ("ABU-'UMAR") are kept.
func parseAliases(remarks, name string) []string {
	if remarks == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{strings.ToLower(name): true}
	for _, loc := range aliasStart.FindAllStringIndex(remarks, -1) {
		rest := remarks[loc[1]:]
		end := aliasEnd(rest)
		if end < 0 {
			continue // cut off: see ParseSDN
		}
		a := strings.TrimSpace(rest[:end])
		if a == "" || seen[strings.ToLower(a)] {
			continue
		}
		seen[strings.ToLower(a)] = true
		out = append(out, a)
		if len(out) == MaxSDNAliases {
			break
		}
	}
	return out
}

// aliasEnd returns the index of the quote closing an alias in s, or -1.
func aliasEnd(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		next := strings.TrimLeft(s[i+1:], " ")
		if next == "" || strings.ContainsRune(";.,)", rune(next[0])) {
			return i
		}
	}
	return -1
}

// limitedReader reads at most n bytes and then fails, so that an
// oversized file is an error rather than silently truncated.
type limitedReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var probe [1]byte
		n, err := io.ReadFull(l.r, probe[:])
		if n > 0 {
			l.exceeded = true
			return 0, ErrSDNTooLarge
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
