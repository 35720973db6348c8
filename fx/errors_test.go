package fx

import (
	"errors"
	"testing"

	"github.com/escrowd/escrowd/internal/money"
)

func TestParseErrorMessage(t *testing.T) {
	tests := []struct {
		err  *ParseError
		want string
	}{
		{&ParseError{Line: 3, Reason: "bad"}, "fx: parse line 3: bad"},
		{&ParseError{Element: "Cube[currency=USD]", Reason: `rate "abc" is not a decimal`}, `fx: parse Cube[currency=USD]: rate "abc" is not a decimal`},
		{&ParseError{Line: 2, Element: "rate", Reason: "bad"}, "fx: parse line 2 rate: bad"},
		{&ParseError{Reason: "bad"}, "fx: parse: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	wrapped := &ParseError{Reason: "x", Err: money.ErrUnknownCurrency}
	if !errors.Is(wrapped, money.ErrUnknownCurrency) {
		t.Error("ParseError does not unwrap")
	}
}

func TestFieldErrorMessage(t *testing.T) {
	err := &FieldError{Field: "sell_amount", Message: "must be greater than zero"}
	if got, want := err.Error(), "fx: sell_amount: must be greater than zero"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
