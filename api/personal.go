package api

import (
	"net/http"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/reconcile"
)

// Personal data in escrow answers. Issue 8: "Personal data (names,
// emails, phones) masked in reports and logs by default; unmasked only
// with ?unmasked=true, which is audited". Finance, risk reviewers and
// dispute agents read escrows to decide on them, not to contact the
// buyer or the seller: for them the escrow reads (GET /v1/escrows,
// /v1/escrows/{id}, /v1/escrows/{id}/timeline) mask the parties' names,
// emails and phones as the reports do (reconcile.Masker), unless asked
// ?unmasked=true, which is audited as the reports' unmasking is
// (auditUnmasked). The marketplace, whose customers they are, and admins
// see them as they are.

// seesPersonalData reports whether role reads the parties' personal data
// as it is, without asking.
func seesPersonalData(role tenants.Role) bool {
	return role == tenants.RoleMarketplace || role == tenants.RoleAdmin
}

// personalMasker says how an escrow read shows personal data to the
// caller of r: as it is for the marketplace and admins, masked for other
// roles unless ?unmasked=true (also checked, 422, for the roles that see
// it anyway). audited is true when the read must be audited with
// auditUnmasked before it is answered.
func personalMasker(r *http.Request) (m reconcile.Masker, audited bool, err error) {
	unmasked, err := rcUnmasked(r)
	if err != nil {
		return reconcile.Masker{}, false, err
	}
	if seesPersonalData(principal(r).Role) {
		return reconcile.Masker{Off: true}, false, nil
	}
	return reconcile.Masker{Off: unmasked}, unmasked, nil
}

// writeMasker says how a write's answer shows personal data to the caller
// of r: as it is for the marketplace and admins, masked for other roles
// (a write has no audited ?unmasked=true; the escrow reads do).
func writeMasker(r *http.Request) reconcile.Masker {
	return reconcile.Masker{Off: seesPersonalData(principal(r).Role)}
}

// maskParty masks a buyer's or seller's name, email and phone; the id and
// country stay, as in the reports.
func maskParty(m reconcile.Masker, p escrow.Party) escrow.Party {
	p.Name, p.Email, p.Phone = m.Name(p.Name), m.Email(p.Email), m.Phone(p.Phone)
	return p
}

// masked is the escrow view with its parties masked by m.
func (v escrowJSON) masked(m reconcile.Masker) escrowJSON {
	v.Buyer, v.Seller = maskParty(m, v.Buyer), maskParty(m, v.Seller)
	return v
}

// personalKeys are the keys of event payloads that hold personal data,
// with their masks: a sanctions alert (risk.alert, on the escrow's
// timeline) names the screened party ("name") and the list entry it
// matched ("matched_name", which for a true match is the party's name
// again). Masking by key also covers a payload that carries a party
// object later.
var personalKeys = map[string]func(reconcile.Masker, string) string{
	"name":         reconcile.Masker.Name,
	"matched_name": reconcile.Masker.Name,
	"email":        reconcile.Masker.Email,
	"phone":        reconcile.Masker.Phone,
}

// maskPayload masks, in place and at any depth, the strings under
// personalKeys in a decoded JSON payload.
func maskPayload(m reconcile.Masker, v any) {
	if m.Off {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok {
				if mask, personal := personalKeys[k]; personal {
					x[k] = mask(m, s)
				}
				continue
			}
			maskPayload(m, val)
		}
	case []any:
		for _, e := range x {
			maskPayload(m, e)
		}
	}
}
