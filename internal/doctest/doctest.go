// Package doctest reads tables out of the project's Markdown documents, so
// that tests can hold the documents to the code they describe.
package doctest

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// transition is one "`action` → `state`" item of a table cell.
var transition = regexp.MustCompile("^`([a-z_]+)` → `([a-z_]+)`$")

// Transitions reads the two-column table whose header's first cell is
// header ("escrow state", say) from the Markdown file at path: one row per
// state, its second cell a comma-separated list of "`action` → `state`",
// or "(none)". It returns state → action → next state.
func Transitions(path, header string) (map[string]map[string]string, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out map[string]map[string]string
	for line := range strings.SplitSeq(string(body), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		switch {
		case out == nil && len(cells) == 2 && cells[0] == header:
			out = map[string]map[string]string{}
		case out == nil || strings.HasPrefix(line, "|---"):
		case !strings.HasPrefix(line, "|"):
			return out, nil
		case len(cells) != 2:
			return nil, fmt.Errorf("%s: row %q: want two cells", path, line)
		default:
			state := strings.Trim(cells[0], "`")
			if _, dup := out[state]; dup {
				return nil, fmt.Errorf("%s: state %s listed twice", path, state)
			}
			out[state] = map[string]string{}
			if cells[1] == "(none)" {
				continue
			}
			for item := range strings.SplitSeq(cells[1], ", ") {
				m := transition.FindStringSubmatch(item)
				if m == nil {
					return nil, fmt.Errorf("%s: state %s: %q is not \"`action` → `state`\"", path, state, item)
				}
				out[state][m[1]] = m[2]
			}
		}
	}
	if out == nil {
		return nil, fmt.Errorf("%s: no table headed %q", path, header)
	}
	return out, nil
}

// Strings turns a state machine's table (state → action → next state) into
// the form Transitions returns.
func Strings[S, A ~string](table map[S]map[A]S) map[string]map[string]string {
	out := make(map[string]map[string]string, len(table))
	for s, row := range table {
		out[string(s)] = make(map[string]string, len(row))
		for a, to := range row {
			out[string(s)][string(a)] = string(to)
		}
	}
	return out
}
