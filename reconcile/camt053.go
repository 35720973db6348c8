package reconcile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Supported camt.053 message versions: urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN
// with NN in [minCamt053Version, maxCamt053Version].
const (
	camt053NamespacePrefix = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
	minCamt053Version      = 2
	maxCamt053Version      = 13
)

// camtNotProvided is the placeholder banks put in EndToEndId when the payer
// gave none.
const camtNotProvided = "NOTPROVIDED"

// ParseCamt053 parses an ISO 20022 camt.053 bank-to-customer statement,
// versions 001.02 to 001.13, holding exactly one Stmt. It reads at most
// MaxStatementBytes. Amounts are signed by CdtDbtInd (DBIT negative), also for
// reversal entries (RvslInd only sets StatementLine.Reversal). An ISODate
// (Dt) is its calendar date as written, at UTC midnight, whatever zone
// offset it carries; an ISODateTime (DtTm) keeps its offset, and one
// without a time zone is taken as UTC. Every failure is a *ParseError and
// no partial Statement is returned.
func ParseCamt053(r io.Reader) (Statement, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxStatementBytes+1))
	if err != nil {
		return Statement{}, &ParseError{Reason: "reading camt.053", Err: err}
	}
	if len(data) > MaxStatementBytes {
		return Statement{}, &ParseError{Reason: fmt.Sprintf("file exceeds %d bytes", MaxStatementBytes), Err: ErrTooLarge}
	}
	doc, err := decodeCamtDocument(data)
	if err != nil {
		return Statement{}, err
	}
	switch n := len(doc.Stmts); {
	case n == 0:
		return Statement{}, &ParseError{Element: "BkToCstmrStmt/Stmt", Reason: "no statement in document"}
	case n > 1:
		return Statement{}, &ParseError{Element: "BkToCstmrStmt/Stmt", Reason: fmt.Sprintf("multiple statements not supported (%d found)", n)}
	}
	return doc.Stmts[0].statement()
}

// decodeCamtDocument checks the root element and its namespace, then decodes it.
func decodeCamtDocument(data []byte) (camtDocument, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var start xml.StartElement
	for {
		tok, err := dec.Token()
		if err != nil {
			return camtDocument{}, xmlParseError(dec, "no Document element", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			start = se
			break
		}
	}
	if start.Name.Local != "Document" {
		return camtDocument{}, &ParseError{Element: start.Name.Local, Reason: "root element is not Document"}
	}
	if !supportedCamt053Namespace(start.Name.Space) {
		return camtDocument{}, &ParseError{Element: "Document", Reason: fmt.Sprintf("unsupported namespace %q", start.Name.Space)}
	}
	var doc camtDocument
	if err := dec.DecodeElement(&doc, &start); err != nil {
		return camtDocument{}, xmlParseError(dec, "malformed camt.053", err)
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return doc, nil
		}
		if err != nil {
			return camtDocument{}, xmlParseError(dec, "malformed camt.053", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return camtDocument{}, &ParseError{Element: t.Name.Local, Reason: "content after the Document element"}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return camtDocument{}, &ParseError{Reason: "text after the Document element"}
			}
		}
	}
}

// xmlParseError wraps a decoder error, with the line of a syntax error.
func xmlParseError(dec *xml.Decoder, reason string, err error) *ParseError {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &ParseError{Line: se.Line, Reason: reason, Err: err}
	}
	line, _ := dec.InputPos()
	return &ParseError{Line: line, Reason: reason, Err: err}
}

func supportedCamt053Namespace(ns string) bool {
	v, ok := strings.CutPrefix(ns, camt053NamespacePrefix)
	if !ok || len(v) != 2 || v[0] < '0' || v[0] > '9' || v[1] < '0' || v[1] > '9' {
		return false
	}
	n, _ := strconv.Atoi(v)
	return n >= minCamt053Version && n <= maxCamt053Version
}

// XML shapes. Tags carry no namespace, so they match the elements of any of
// the supported versions; only the fields escrowd uses are declared.
type camtDocument struct {
	Stmts []camtStmt `xml:"BkToCstmrStmt>Stmt"`
}

type camtStmt struct {
	ID       string        `xml:"Id"`
	CreDtTm  string        `xml:"CreDtTm"`
	FrDtTm   string        `xml:"FrToDt>FrDtTm"`
	ToDtTm   string        `xml:"FrToDt>ToDtTm"`
	IBAN     string        `xml:"Acct>Id>IBAN"`
	Ccy      string        `xml:"Acct>Ccy"`
	Balances []camtBalance `xml:"Bal"`
	Entries  []camtEntry   `xml:"Ntry"`
}

type camtAmount struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

type camtBalance struct {
	Code      string     `xml:"Tp>CdOrPrtry>Cd"`
	Amt       camtAmount `xml:"Amt"`
	CdtDbtInd string     `xml:"CdtDbtInd"`
}

// camtDate is the ISO 20022 DateAndDateTimeChoice: Dt or DtTm.
type camtDate struct {
	Dt   string `xml:"Dt"`
	DtTm string `xml:"DtTm"`
}

// camtStatus is a plain code before version 08 and Cd/Prtry from version 08.
type camtStatus struct {
	Text  string `xml:",chardata"`
	Cd    string `xml:"Cd"`
	Prtry string `xml:"Prtry"`
}

type camtEntry struct {
	NtryRef      string       `xml:"NtryRef"`
	Amt          camtAmount   `xml:"Amt"`
	CdtDbtInd    string       `xml:"CdtDbtInd"`
	RvslInd      string       `xml:"RvslInd"`
	Sts          *camtStatus  `xml:"Sts"`
	BookgDt      camtDate     `xml:"BookgDt"`
	ValDt        camtDate     `xml:"ValDt"`
	AcctSvcrRef  string       `xml:"AcctSvcrRef"`
	AddtlNtryInf string       `xml:"AddtlNtryInf"`
	TxDtls       []camtTxDtls `xml:"NtryDtls>TxDtls"`
}

// camtParty covers Dbtr/Cdtr before version 08 (Nm) and after (Pty/Nm).
type camtParty struct {
	Nm    string `xml:"Nm"`
	PtyNm string `xml:"Pty>Nm"`
}

func (p *camtParty) name() string {
	if p == nil {
		return ""
	}
	if n := strings.TrimSpace(p.Nm); n != "" {
		return n
	}
	return strings.TrimSpace(p.PtyNm)
}

type camtTxDtls struct {
	EndToEndID string     `xml:"Refs>EndToEndId"`
	Dbtr       *camtParty `xml:"RltdPties>Dbtr"`
	Cdtr       *camtParty `xml:"RltdPties>Cdtr"`
	Ustrd      []string   `xml:"RmtInf>Ustrd"`
	StrdRef    []string   `xml:"RmtInf>Strd>CdtrRefInf>Ref"`
	AddtlTxInf string     `xml:"AddtlTxInf"`
}

// statement converts the decoded Stmt, validating every field it uses.
func (s camtStmt) statement() (Statement, error) {
	st := Statement{
		ID:          strings.TrimSpace(s.ID),
		AccountIBAN: strings.TrimSpace(s.IBAN),
		Currency:    strings.TrimSpace(s.Ccy),
	}
	if st.ID == "" {
		return Statement{}, &ParseError{Element: "Stmt/Id", Reason: "missing"}
	}
	var err error
	if st.CreatedAt, err = camtDateTime("Stmt/CreDtTm", s.CreDtTm); err != nil {
		return Statement{}, err
	}
	if st.FromDate, err = camtDateTime("Stmt/FrToDt/FrDtTm", s.FrDtTm); err != nil {
		return Statement{}, err
	}
	if st.ToDate, err = camtDateTime("Stmt/FrToDt/ToDtTm", s.ToDtTm); err != nil {
		return Statement{}, err
	}
	// Acct/Ccy is optional; the balances are then in the account currency.
	if st.Currency == "" {
		for _, b := range s.Balances {
			if c := strings.TrimSpace(b.Amt.Ccy); c != "" {
				st.Currency = c
				break
			}
		}
	}
	if st.Currency == "" && len(s.Entries) > 0 {
		st.Currency = strings.TrimSpace(s.Entries[0].Amt.Ccy)
	}
	if !validCurrency(st.Currency) {
		return Statement{}, &ParseError{Element: "Stmt/Acct/Ccy", Reason: fmt.Sprintf("currency %q is not 3 upper-case letters", st.Currency)}
	}
	bs := camtBalances{currency: st.Currency}
	for i, b := range s.Balances {
		if err := bs.add(i+1, b); err != nil {
			return Statement{}, err
		}
	}
	st.OpeningBalance, st.ClosingBalance = bs.opening, bs.closing
	st.Lines = make([]StatementLine, 0, len(s.Entries))
	seen := make(map[string]int, len(s.Entries))
	for i, e := range s.Entries {
		l, err := e.line(i + 1)
		if err != nil {
			return Statement{}, err
		}
		if prev, dup := seen[l.EntryRef]; dup {
			return Statement{}, &ParseError{Element: fmt.Sprintf("Ntry[%d]", l.Index), Reason: fmt.Sprintf("entry reference %q already used by Ntry[%d]", l.EntryRef, prev)}
		}
		seen[l.EntryRef] = l.Index
		st.Lines = append(st.Lines, l)
	}
	return st, nil
}

// camtBalances collects the opening (OPBD, else PRCD) and closing (CLBD)
// balances; other balance types are ignored.
type camtBalances struct {
	currency         string
	opening, closing *decimal.Decimal
	openingCode      string
}

func (bs *camtBalances) add(n int, b camtBalance) error {
	el := fmt.Sprintf("Bal[%d]", n)
	code := strings.TrimSpace(b.Code)
	if code != "OPBD" && code != "PRCD" && code != "CLBD" {
		return nil
	}
	amt, err := camtSignedAmount(el, b.Amt, b.CdtDbtInd)
	if err != nil {
		return err
	}
	if c := strings.TrimSpace(b.Amt.Ccy); c != bs.currency {
		return &ParseError{Element: el + "/Amt", Reason: fmt.Sprintf("balance currency %q differs from statement currency %q", c, bs.currency)}
	}
	switch {
	case code == "CLBD" && bs.closing != nil, code == bs.openingCode:
		return &ParseError{Element: el, Reason: fmt.Sprintf("more than one %s balance", code)}
	case code == "CLBD":
		bs.closing = &amt
	case code == "PRCD" && bs.openingCode == "OPBD":
		// OPBD is the opening balance proper; PRCD is only its fallback.
	default:
		bs.opening, bs.openingCode = &amt, code
	}
	return nil
}

// line converts entry n (1-based).
func (e camtEntry) line(n int) (StatementLine, error) {
	el := fmt.Sprintf("Ntry[%d]", n)
	amt, err := camtSignedAmount(el, e.Amt, e.CdtDbtInd)
	if err != nil {
		return StatementLine{}, err
	}
	l := StatementLine{
		Index:       n,
		Amount:      amt,
		Currency:    strings.TrimSpace(e.Amt.Ccy),
		AcctSvcrRef: strings.TrimSpace(e.AcctSvcrRef),
		Description: strings.TrimSpace(e.AddtlNtryInf),
	}
	if !validCurrency(l.Currency) {
		return StatementLine{}, &ParseError{Element: el + "/Amt", Reason: fmt.Sprintf("currency %q is not 3 upper-case letters", l.Currency)}
	}
	switch v := strings.TrimSpace(e.RvslInd); v {
	case "", "false", "0":
	case "true", "1":
		l.Reversal = true
	default:
		return StatementLine{}, &ParseError{Element: el + "/RvslInd", Reason: fmt.Sprintf("%q is not a boolean", v)}
	}
	if l.Status, err = e.status(el); err != nil {
		return StatementLine{}, err
	}
	if l.BookingDate, err = camtDateChoice(el+"/BookgDt", e.BookgDt); err != nil {
		return StatementLine{}, err
	}
	if l.ValueDate, err = camtDateChoice(el+"/ValDt", e.ValDt); err != nil {
		return StatementLine{}, err
	}
	l.EntryRef = strings.TrimSpace(e.NtryRef)
	if l.EntryRef == "" {
		l.EntryRef = l.AcctSvcrRef
	}
	if l.EntryRef == "" {
		l.EntryRef = derivedEntryRef(n)
	}
	e.fillDetails(&l)
	return l, nil
}

// status maps Sts: BOOK → booked; PDNG and FUTR (booking in the future) →
// pending. INFO entries (never booked) and proprietary codes are rejected
// rather than guessed.
func (e camtEntry) status(el string) (string, error) {
	if e.Sts == nil {
		return "", &ParseError{Element: el + "/Sts", Reason: "missing"}
	}
	code := strings.TrimSpace(e.Sts.Cd)
	if code == "" {
		code = strings.TrimSpace(e.Sts.Text)
	}
	switch code {
	case "BOOK":
		return StatusBooked, nil
	case "PDNG", "FUTR":
		return StatusPending, nil
	case "":
		if p := strings.TrimSpace(e.Sts.Prtry); p != "" {
			return "", &ParseError{Element: el + "/Sts/Prtry", Reason: fmt.Sprintf("proprietary status %q not supported", p)}
		}
		return "", &ParseError{Element: el + "/Sts", Reason: "missing"}
	default:
		return "", &ParseError{Element: el + "/Sts", Reason: fmt.Sprintf("status %q not supported", code)}
	}
}

// fillDetails takes references, remittance information and the counterparty
// from the transaction details. For batch entries with several TxDtls the
// EndToEndID is kept only if all of them agree; texts are joined with " ".
func (e camtEntry) fillDetails(l *StatementLine) {
	var e2e string
	e2eConflict := false
	var ustrd, strd, addtl []string
	for _, tx := range e.TxDtls {
		if id := strings.TrimSpace(tx.EndToEndID); id != "" && id != camtNotProvided {
			if e2e != "" && e2e != id {
				e2eConflict = true
			}
			e2e = id
		}
		ustrd = appendTrimmed(ustrd, tx.Ustrd...)
		strd = appendTrimmed(strd, tx.StrdRef...)
		addtl = appendTrimmed(addtl, tx.AddtlTxInf)
		if l.Counterparty == "" {
			l.Counterparty = counterparty(tx, l.Amount.Sign() < 0, l.Reversal)
		}
	}
	if !e2eConflict {
		l.EndToEndID = e2e
	}
	l.Reference = strings.Join(ustrd, " ")
	if l.Reference == "" {
		l.Reference = strings.Join(strd, " ")
	}
	if l.Description == "" {
		l.Description = strings.Join(addtl, " ")
	}
}

// counterparty picks the other party: the creditor of a debit, the debtor of
// a credit. Dbtr/Cdtr describe the original transaction, so a reversal flips
// the choice. If the preferred party is absent the other one is used.
func counterparty(tx camtTxDtls, debit, reversal bool) string {
	first, second := tx.Dbtr, tx.Cdtr
	if debit != reversal {
		first, second = tx.Cdtr, tx.Dbtr
	}
	if n := first.name(); n != "" {
		return n
	}
	return second.name()
}

func appendTrimmed(dst []string, ss ...string) []string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			dst = append(dst, s)
		}
	}
	return dst
}

// camtSignedAmount parses Amt and applies CdtDbtInd (CRDT +, DBIT -).
func camtSignedAmount(el string, a camtAmount, ind string) (decimal.Decimal, error) {
	v := strings.TrimSpace(a.Value)
	amt, err := parseUnsignedAmount(v)
	if err != nil {
		return decimal.Decimal{}, &ParseError{Element: el + "/Amt", Reason: fmt.Sprintf("amount %q %s", v, err.Error())}
	}
	switch v := strings.TrimSpace(ind); v {
	case "CRDT":
		return amt, nil
	case "DBIT":
		return amt.Neg(), nil
	case "":
		return decimal.Decimal{}, &ParseError{Element: el + "/CdtDbtInd", Reason: "missing"}
	default:
		return decimal.Decimal{}, &ParseError{Element: el + "/CdtDbtInd", Reason: fmt.Sprintf("%q is neither CRDT nor DBIT", v)}
	}
}

// ISO 20022 ISODate and ISODateTime layouts; values without a zone are UTC.
var (
	camtDateLayouts     = []string{"2006-01-02", "2006-01-02Z07:00"}
	camtDateTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}
)

// camtDateChoice parses a DateAndDateTimeChoice. A Dt is the bank's
// calendar day: its offset (xs:date allows one) does not move it, so
// 2026-03-02+01:00 is 2026-03-02 at UTC midnight, not 2026-03-01T23:00Z.
func camtDateChoice(el string, d camtDate) (time.Time, error) {
	if v := strings.TrimSpace(d.Dt); v != "" {
		t, err := parseCamtTime(el+"/Dt", v, camtDateLayouts)
		if err != nil {
			return time.Time{}, err
		}
		y, m, day := t.Date()
		return time.Date(y, m, day, 0, 0, 0, 0, time.UTC), nil
	}
	return camtDateTime(el+"/DtTm", d.DtTm)
}

// camtDateTime parses an optional ISODateTime; "" gives the zero time.
func camtDateTime(el, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	return parseCamtTime(el, v, camtDateTimeLayouts)
}

// parseCamtTime parses v with the first of layouts that fits; a date that
// fits none, or whose year is outside MinStatementYear..MaxStatementYear,
// is a *ParseError naming el.
func parseCamtTime(el, v string, layouts []string) (time.Time, error) {
	for _, layout := range layouts {
		if t, err := time.Parse(layout, v); err == nil {
			if why := checkStatementYear(t); why != "" {
				return time.Time{}, &ParseError{Element: el, Reason: fmt.Sprintf("%q is not a plausible date: %s", v, why)}
			}
			return t, nil
		}
	}
	return time.Time{}, &ParseError{Element: el, Reason: fmt.Sprintf("%q is not a valid date", v)}
}
