package risk

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// realSDNPath is the real OFAC list kept for tests.
const realSDNPath = "../testdata/real/ofac-sdn-2024-05-03.csv"

// sdnLine builds one sdn.csv line the way OFAC writes it.
func sdnLine(num int, name, typ, program, remarks string) string {
	q := func(s string) string {
		if s == "" {
			return "-0- "
		}
		return `"` + s + `"`
	}
	return strconv.Itoa(num) + "," + q(name) + "," + q(typ) + "," + q(program) +
		",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ," + q(remarks) + "\r\n"
}

func TestParseSDNReal(t *testing.T) {
	f, err := os.Open(realSDNPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := ParseSDN(f)
	if err != nil {
		t.Fatalf("ParseSDN: %v", err)
	}
	if len(entries) != 14965 {
		t.Fatalf("got %d entries, want 14965", len(entries))
	}
	types := map[string]int{}
	byNum := map[int]SanctionsEntry{}
	for _, e := range entries {
		types[e.Type]++
		byNum[e.EntNum] = e
	}
	wantTypes := map[string]int{SDNTypeIndividual: 6854, SDNTypeEntity: 6884, SDNTypeVessel: 851, SDNTypeAircraft: 376}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("types = %v, want %v", types, wantTypes)
	}

	tests := []struct {
		num        int
		name, typ  string
		programs   []string
		aliases    []string // all aliases, in order, when notAlias is empty
		hasAliases []string // aliases that must be present
		notAlias   string   // an alias that must be absent
	}{
		{num: 306, name: "BANCO NACIONAL DE CUBA", typ: SDNTypeEntity, programs: []string{"CUBA"}, aliases: []string{"BNC"}},
		{num: 36, name: "AEROCARIBBEAN AIRLINES", typ: SDNTypeEntity, programs: []string{"CUBA"}},
		{num: 3754, name: "ABU MARZOOK, Mousa Mohammed", typ: SDNTypeIndividual, programs: []string{"SDGT"}, aliases: []string{"ABU-'UMAR"}},
		{num: 4107, name: "RODRIGUEZ OREJUELA, Gilberto Jose", typ: SDNTypeIndividual, programs: []string{"SDNT"},
			aliases: []string{"THE CHESS PLAYER", "LUCAS"}},
		{num: 4108, name: "RODRIGUEZ OREJUELA, Miguel Angel", typ: SDNTypeIndividual, programs: []string{"SDNT"},
			hasAliases: []string{"EL SENOR", "PAT", "DOCTOR M.R.O."}},
		{num: 11440, name: "SINALOA CARTEL", typ: SDNTypeEntity, programs: []string{"SDNTK", "ILLICIT-DRUGS-EO14059"},
			aliases: []string{"MEXICAN FEDERATION", "GUADALAJARA CARTEL"}},
		{num: 12727, name: "BASIJ RESISTANCE FORCE", typ: SDNTypeEntity, programs: []string{"FTO", "SDGT", "IRGC", "IFSR", "IRAN-HR"},
			hasAliases: []string{"NATIONAL RESISTANCE MOBILIZATION"}},
		{num: 4243, name: "EBANO", typ: SDNTypeVessel, programs: []string{"CUBA"}, aliases: []string{"ANA I", "SAND SWAN"}},
		// Remarks cut at 1,000 characters in the middle of an alias.
		{num: 27307, typ: SDNTypeEntity, hasAliases: []string{"GUARDIANS OF PEACE"}, notAlias: "WHOIS HACKIN"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.num), func(t *testing.T) {
			e, ok := byNum[tt.num]
			if !ok {
				t.Fatalf("entry %d missing", tt.num)
			}
			if tt.name != "" && e.Name != tt.name {
				t.Errorf("Name = %q, want %q", e.Name, tt.name)
			}
			if e.Type != tt.typ {
				t.Errorf("Type = %q, want %q", e.Type, tt.typ)
			}
			if tt.programs != nil && !slices.Equal(e.Programs, tt.programs) {
				t.Errorf("Programs = %q, want %q", e.Programs, tt.programs)
			}
			if tt.hasAliases == nil && !slices.Equal(e.Aliases, tt.aliases) {
				t.Errorf("Aliases = %q, want %q", e.Aliases, tt.aliases)
			}
			for _, a := range tt.hasAliases {
				if !slices.Contains(e.Aliases, a) {
					t.Errorf("Aliases = %q, want %q among them", e.Aliases, a)
				}
			}
			if tt.notAlias != "" {
				for _, a := range e.Aliases {
					if strings.Contains(a, tt.notAlias) {
						t.Errorf("alias %q should have been dropped (cut off)", a)
					}
				}
			}
		})
	}
}

func TestParseSDN(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []SanctionsEntry
		wantErr error // errors.Is target; nil for success
		line    int   // want SDNParseError.Line
		column  string
	}{
		{
			name: "entity with alias and empty fields",
			in:   sdnLine(306, "BANCO NACIONAL DE CUBA", "", "CUBA", "a.k.a. 'BNC'."),
			want: []SanctionsEntry{{EntNum: 306, Name: "BANCO NACIONAL DE CUBA", Type: SDNTypeEntity,
				Programs: []string{"CUBA"}, Aliases: []string{"BNC"}, Remarks: "a.k.a. 'BNC'."}},
		},
		{
			name: "several programs and aliases, header and EOF marker",
			in: "ent_num,SDN_Name,SDN_Type,Program,Title,Call_Sign,Vess_type,Tonnage,GRT,Vess_flag,Vess_owner,Remarks\r\n" +
				sdnLine(7, "DOE, John", "individual", "SDGT] [IRGC", "DOB 1970; a.k.a. 'JD'; f.k.a. 'O'BRIEN, J.'; n.k.a. 'JOHNNY'; a.k.a. 'JD'.") +
				"\x1a",
			want: []SanctionsEntry{{EntNum: 7, Name: "DOE, John", Type: SDNTypeIndividual, Programs: []string{"SDGT", "IRGC"},
				Aliases: []string{"JD", "O'BRIEN, J.", "JOHNNY"},
				Remarks: "DOB 1970; a.k.a. 'JD'; f.k.a. 'O'BRIEN, J.'; n.k.a. 'JOHNNY'; a.k.a. 'JD'."}},
		},
		{
			name: "latin-1 bytes are decoded",
			in:   sdnLine(8, "JOS\xc9 MAR\xcdA N\xda\xd1EZ", "individual", "", ""),
			want: []SanctionsEntry{{EntNum: 8, Name: "JOSÉ MARÍA NÚÑEZ", Type: SDNTypeIndividual}},
		},
		{
			name: "utf-8 is kept",
			in:   sdnLine(9, "JOSÉ MÜLLER", "individual", "", ""),
			want: []SanctionsEntry{{EntNum: 9, Name: "JOSÉ MÜLLER", Type: SDNTypeIndividual}},
		},
		{
			name: "LF line ends and blank lines",
			in:   "\n" + strings.ReplaceAll(sdnLine(10, "X", "vessel", "", ""), "\r\n", "\n") + "\n",
			want: []SanctionsEntry{{EntNum: 10, Name: "X", Type: SDNTypeVessel}},
		},
		{name: "empty input", in: "", want: nil},
		{name: "too few fields", in: sdnLine(1, "A", "", "", "") + "2,\"B\",-0- \r\n",
			wantErr: ErrSDNFormat, line: 2},
		{name: "bad ent_num", in: sdnLine(1, "A", "", "", "") + strings.Replace(sdnLine(2, "B", "", "", ""), "2,", "x2,", 1),
			wantErr: ErrSDNFormat, line: 2, column: "ent_num"},
		{name: "negative ent_num", in: sdnLine(-3, "A", "", "", ""), wantErr: ErrSDNFormat, line: 1, column: "ent_num"},
		{name: "empty name", in: sdnLine(1, "", "", "", ""), wantErr: ErrSDNFormat, line: 1, column: "SDN_Name"},
		{name: "unknown type", in: sdnLine(1, "A", "robot", "", ""), wantErr: ErrSDNFormat, line: 1, column: "SDN_Type"},
		{name: "NUL in a name", in: sdnLine(1, "A", "", "", "") + sdnLine(2, "B\x00C", "", "", ""), wantErr: ErrSDNFormat, line: 2, column: "SDN_Name"},
		{name: "duplicate ent_num", in: sdnLine(1, "A", "", "", "") + sdnLine(1, "B", "", "", ""),
			wantErr: ErrSDNFormat, line: 2, column: "ent_num"},
		{name: "bare quote", in: sdnLine(1, "A", "", "", "") + "2,B\"C,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n",
			wantErr: ErrSDNFormat, line: 2},
		{name: "unterminated quote", in: sdnLine(1, "A", "", "", "") + "2,\"B,-0- \r\n", wantErr: ErrSDNFormat, line: 2},
		{name: "field too long", in: sdnLine(1, "A", "", "", strings.Repeat("x", MaxSDNFieldBytes+1)),
			wantErr: ErrSDNTooLarge, line: 1, column: "Remarks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSDN(strings.NewReader(tt.in))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ParseSDN: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got  %#v\nwant %#v", got, tt.want)
				}
				return
			}
			var pe *SDNParseError
			if !errors.As(err, &pe) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want *SDNParseError wrapping %v", err, tt.wantErr)
			}
			if pe.Line != tt.line || pe.Column != tt.column {
				t.Errorf("error at line %d column %q, want line %d column %q (%v)", pe.Line, pe.Column, tt.line, tt.column, err)
			}
			if !strings.Contains(err.Error(), "line "+strconv.Itoa(tt.line)) {
				t.Errorf("error %q does not name line %d", err, tt.line)
			}
		})
	}
}

func TestParseSDNTooManyEntries(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= MaxSDNEntries+1; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteString(",\"N\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n")
	}
	_, err := ParseSDN(strings.NewReader(b.String()))
	var pe *SDNParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrSDNTooLarge) || pe.Line != MaxSDNEntries+1 {
		t.Fatalf("err = %v, want ErrSDNTooLarge at line %d", err, MaxSDNEntries+1)
	}
}

// failingReader returns its error after the data.
type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestParseSDNReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseSDN(&failingReader{data: sdnLine(1, "A", "", "", ""), err: boom})
	var pe *SDNParseError
	if !errors.As(err, &pe) || !errors.Is(err, boom) || errors.Is(err, ErrSDNFormat) {
		t.Fatalf("err = %v, want *SDNParseError wrapping the reader's error", err)
	}
}

func FuzzParseSDN(f *testing.F) {
	f.Add(sdnLine(306, "BANCO NACIONAL DE CUBA", "", "CUBA", "a.k.a. 'BNC'."))
	f.Add(sdnLine(7, "DOE, John", "individual", "SDGT] [IRGC", "a.k.a. 'ABU-'UMAR'; f.k.a. 'X"))
	f.Add("1,\"A\xe9\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a")
	f.Add("ent_num\n1,2,3\n")
	f.Add("\"unterminated")
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := ParseSDN(strings.NewReader(in))
		if err != nil {
			var pe *SDNParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not *SDNParseError", err)
			}
			return
		}
		seen := map[int]bool{}
		for _, e := range entries {
			if e.EntNum <= 0 || seen[e.EntNum] {
				t.Fatalf("bad or repeated EntNum %d", e.EntNum)
			}
			seen[e.EntNum] = true
			if e.Name == "" {
				t.Fatalf("entry %d has no name", e.EntNum)
			}
			switch e.Type {
			case SDNTypeIndividual, SDNTypeEntity, SDNTypeVessel, SDNTypeAircraft:
			default:
				t.Fatalf("entry %d has type %q", e.EntNum, e.Type)
			}
			for _, a := range e.Aliases {
				if a == "" {
					t.Fatalf("entry %d has an empty alias", e.EntNum)
				}
			}
		}
	})
}
