package api

import "testing"

// TestCsvCellNeutralisesFormulas: a report cell a spreadsheet would run as
// a formula gets a leading quote; numbers, including negative amounts, and
// ordinary text stay as they are.
func TestCsvCellNeutralisesFormulas(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Sam Seller", "Sam Seller"},
		{"12000.00", "12000.00"},
		{"-5.00", "-5.00"},
		{"-5", "-5"},
		{"0.0001", "0.0001"},
		{"a=b", "a=b"},
		{"=1+1", "'=1+1"},
		{"=***", "'=***"},
		{`=HYPERLINK("https://evil.example","x")`, `'=HYPERLINK("https://evil.example","x")`},
		{"+1+1", "'+1+1"},
		{"+5.00", "'+5.00"},
		{"-1+1", "'-1+1"},
		{"-5.00)", "'-5.00)"},
		{"-", "'-"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"'=1", "'=1"},
	} {
		if got := rcCsvCell(c.in); got != c.want {
			t.Errorf("rcCsvCell(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
