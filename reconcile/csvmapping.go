package reconcile

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/escrowd/escrowd/internal/valid"
)

// CSV mapping parameters: the names under which a CSVMapping is given as
// query parameters (POST /v1/reconciliation/statements?booking_date=Date&...)
// or as --csv-mapping name=value,... on the command line. Column parameters
// name a header column; the others are options.
const (
	ParamBookingDate     = "booking_date"
	ParamValueDate       = "value_date"
	ParamAmount          = "amount"
	ParamDebit           = "debit"
	ParamCredit          = "credit"
	ParamCurrency        = "currency"
	ParamReference       = "reference"
	ParamDescription     = "description"
	ParamCounterparty    = "counterparty"
	ParamEntryRef        = "entry_ref"
	ParamDefaultCurrency = "default_currency"
	ParamStatementID     = "statement_id"
	ParamDateLayout      = "date_layout"
	ParamDecimalComma    = "decimal_comma"
	ParamSeparator       = "separator"
	// ParamSkipDuplicates: skip lines another statement of the account
	// holds (ImportRequest; see dedupeKeys).
	ParamSkipDuplicates = "skip_duplicates"
)

// columnParams lists the column parameters with the mapping field each sets.
var columnParams = []struct {
	name  string
	field func(*CSVMapping) *string
}{
	{ParamBookingDate, func(m *CSVMapping) *string { return &m.BookingDate }},
	{ParamValueDate, func(m *CSVMapping) *string { return &m.ValueDate }},
	{ParamAmount, func(m *CSVMapping) *string { return &m.Amount }},
	{ParamDebit, func(m *CSVMapping) *string { return &m.Debit }},
	{ParamCredit, func(m *CSVMapping) *string { return &m.Credit }},
	{ParamCurrency, func(m *CSVMapping) *string { return &m.Currency }},
	{ParamReference, func(m *CSVMapping) *string { return &m.Reference }},
	{ParamDescription, func(m *CSVMapping) *string { return &m.Description }},
	{ParamCounterparty, func(m *CSVMapping) *string { return &m.Counterparty }},
	{ParamEntryRef, func(m *CSVMapping) *string { return &m.EntryRef }},
}

// mappingFieldParams names the parameter of each CSVMapping field, for errors.
var mappingFieldParams = map[string]string{
	"BookingDate": ParamBookingDate, "ValueDate": ParamValueDate, "Amount": ParamAmount, "Debit": ParamDebit,
	"Credit": ParamCredit, "Currency": ParamCurrency, "Reference": ParamReference, "Description": ParamDescription,
	"Counterparty": ParamCounterparty, "EntryRef": ParamEntryRef, "DefaultCurrency": ParamDefaultCurrency,
	"StatementID": ParamStatementID, "DateLayout": ParamDateLayout, "DecimalComma": ParamDecimalComma, "Comma": ParamSeparator,
}

// CSVMappingParams is a CSV mapping as named parameters. Columns tells
// whether any column parameter was given; when none was, the default
// mapping applies (DefaultCSVMapping) with the options given.
type CSVMappingParams struct {
	Mapping CSVMapping
	Columns bool
	// SkipDuplicates: lines another statement of the account already
	// holds are not stored (for exports of whole days whose periods
	// overlap; not for incremental exports, where two identical transfers
	// in two files are two lines).
	SkipDuplicates bool
}

// ParseCSVMappingParams reads mapping parameters with get (e.g.
// url.Values.Get). Errors are valid.Errors naming the parameter.
func ParseCSVMappingParams(get func(string) string) (CSVMappingParams, error) {
	var out CSVMappingParams
	var errs valid.Errors
	for _, c := range columnParams {
		if v := strings.TrimSpace(get(c.name)); v != "" {
			*c.field(&out.Mapping) = v
			out.Columns = true
		}
	}
	m := &out.Mapping
	m.DefaultCurrency = strings.TrimSpace(get(ParamDefaultCurrency))
	m.StatementID = strings.TrimSpace(get(ParamStatementID))
	if len(m.StatementID) > maxRefLength {
		errs.Add(ParamStatementID, fmt.Sprintf("at most %d characters", maxRefLength))
	} else if err := storableText(m.StatementID); err != nil {
		errs.Add(ParamStatementID, err.Error())
	}
	m.DateLayout = get(ParamDateLayout)
	if v := get(ParamDecimalComma); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs.Add(ParamDecimalComma, "must be true or false")
		}
		m.DecimalComma = b
	}
	if v := get(ParamSkipDuplicates); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs.Add(ParamSkipDuplicates, "must be true or false")
		}
		out.SkipDuplicates = b
	}
	switch v := get(ParamSeparator); v {
	case "":
	case "tab", `\t`:
		m.Comma = '\t'
	default:
		r, size := utf8.DecodeRuneInString(v)
		if size != len(v) {
			errs.Add(ParamSeparator, `must be one character, or "tab"`)
		}
		m.Comma = r
	}
	return out, errs.Err()
}

// ParseCSVMappingList reads mapping parameters written as
// "name=value,name=value" (the command line's --csv-mapping).
func ParseCSVMappingList(s string) (CSVMappingParams, error) {
	vals := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return CSVMappingParams{}, valid.Field("csv-mapping", fmt.Sprintf("%q is not name=value", kv))
		}
		vals[strings.TrimSpace(k)] = v
	}
	return ParseCSVMappingParams(func(k string) string { return vals[k] })
}

// DefaultCSVMapping is the mapping used when no column is named: the
// columns called like the column parameters (booking_date, value_date,
// amount or debit and credit, currency, reference, description,
// counterparty, entry_ref), each used when the file's header has it.
// Options (separator, decimal_comma, date_layout, default_currency,
// statement_id) are taken from opts.
func DefaultCSVMapping(data []byte, opts CSVMapping) CSVMapping {
	m := opts
	body := bytes.TrimPrefix(data, []byte(utf8BOM))
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body = body[:i]
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = m.Comma
	if r.Comma == 0 {
		r.Comma = detectComma(body)
	}
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		header = nil
	}
	has := map[string]bool{}
	for _, h := range header {
		has[strings.TrimSpace(h)] = true
	}
	for _, c := range columnParams {
		if has[c.name] {
			*c.field(&m) = c.name
		}
	}
	// Without a header, name the required columns anyway so the parser
	// reports which one is missing.
	if m.BookingDate == "" {
		m.BookingDate = ParamBookingDate
	}
	if m.Amount == "" && (m.Debit == "" || m.Credit == "") {
		m.Amount, m.Debit, m.Credit = ParamAmount, "", ""
	}
	if m.Amount != "" {
		m.Debit, m.Credit = "", ""
	}
	return m
}

// mappingError turns a *MappingError into a field error naming the parameter.
func mappingError(me *MappingError) error {
	p := mappingFieldParams[me.Field]
	if p == "" {
		p = me.Field
	}
	return valid.FieldCode("invalid_csv_mapping", p, me.Reason)
}
