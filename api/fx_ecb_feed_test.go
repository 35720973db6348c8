package api_test

import (
	"net/http"
	"os"
	"testing"
)

// Two ECB daily feeds in one body (concatenated files) were answered 201
// with only the first day stored and the second dropped without a word.
// Issue 4: bad XML is a 400 naming the element, nothing partially stored.
func TestFXRatesImportConcatenatedFeedsRefused(t *testing.T) {
	e := newEnv(t)
	real, err := os.ReadFile(fxRealECB)
	if err != nil {
		t.Fatal(err)
	}
	second := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<Cube><Cube time='2017-03-09'><Cube currency='USD' rate='1.0553'/></Cube></Cube></gesmes:Envelope>`)
	body := append(append(real, '\n'), second...)
	r := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: rcFin, raw: body, contentType: "application/xml"})
	if r.status != http.StatusBadRequest || r.code(t) != "invalid_rates_file" || r.json(t)["element"] != "Envelope" || r.json(t)["line"] == nil {
		t.Errorf("two feeds in one body: %d %s (%d rates stored); want 400 invalid_rates_file naming the second Envelope and its line", r.status, r.body, fxCountRates(e))
	}
	if n := fxCountRates(e); n != 0 {
		t.Errorf("%d rates stored by a refused import", n)
	}
}
