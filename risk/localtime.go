package risk

import (
	"strings"
	"time"
)

// countryOffsetMinutes is each country's offset from UTC in minutes, for the
// off-hours feature. It is an approximation, chosen over a time-zone
// database because the feature only asks "is it the middle of the night
// there", and so that the result never depends on the host's tzdata:
//   - standard time only: daylight saving time is ignored, so in summer the
//     hour is one early in countries that observe it;
//   - one offset per country: for countries spanning several zones the zone
//     where most people live (US: Eastern, RU: Moscow, BR: Brasília, AU:
//     Sydney, CA: Eastern, MX: Mexico City, ID: Jakarta, KZ: Almaty).
//
// A country not in the table gives LocalHour -1 (unknown), so off-hours
// rules do not fire on it.
var countryOffsetMinutes = map[string]int{
	// Americas.
	"US": -300, "CA": -300, "MX": -360, "GT": -360, "BZ": -360, "SV": -360, "HN": -360, "NI": -360,
	"CR": -360, "PA": -300, "CU": -300, "JM": -300, "HT": -300, "DO": -240, "PR": -240, "TT": -240,
	"BB": -240, "BS": -300, "CO": -300, "EC": -300, "PE": -300, "VE": -240, "BO": -240, "PY": -240,
	"CL": -240, "AR": -180, "UY": -180, "BR": -180, "GY": -240, "SR": -180,
	// Europe.
	"GB": 0, "IE": 0, "PT": 0, "IS": 0, "ES": 60, "FR": 60, "BE": 60, "NL": 60, "LU": 60,
	"DE": 60, "CH": 60, "AT": 60, "IT": 60, "MT": 60, "MC": 60, "LI": 60, "DK": 60, "NO": 60,
	"SE": 60, "PL": 60, "CZ": 60, "SK": 60, "HU": 60, "SI": 60, "HR": 60, "BA": 60, "RS": 60,
	"ME": 60, "MK": 60, "AL": 60, "XK": 60, "FI": 120, "EE": 120, "LV": 120, "LT": 120, "UA": 120,
	"MD": 120, "RO": 120, "BG": 120, "GR": 120, "CY": 120, "BY": 180, "RU": 180, "TR": 180,
	// Middle East and Africa.
	"IL": 120, "PS": 120, "LB": 120, "JO": 180, "SY": 180, "IQ": 180, "SA": 180, "KW": 180,
	"BH": 180, "QA": 180, "YE": 180, "AE": 240, "OM": 240, "IR": 210, "EG": 120, "LY": 120,
	"SD": 120, "TN": 60, "DZ": 60, "MA": 60, "NG": 60, "CM": 60, "AO": 60, "CD": 60, "GH": 0,
	"CI": 0, "SN": 0, "ML": 0, "ET": 180, "KE": 180, "TZ": 180, "UG": 180, "SO": 180, "RW": 120,
	"ZA": 120, "ZW": 120, "ZM": 120, "MZ": 120, "BW": 120, "NA": 120, "MG": 180, "MU": 240,
	// Asia and Oceania.
	"GE": 240, "AM": 240, "AZ": 240, "AF": 270, "PK": 300, "UZ": 300, "TJ": 300, "TM": 300,
	"KZ": 300, "KG": 360, "IN": 330, "LK": 330, "NP": 345, "BD": 360, "BT": 360, "MM": 390,
	"TH": 420, "VN": 420, "KH": 420, "LA": 420, "ID": 420, "MY": 480, "SG": 480, "PH": 480,
	"CN": 480, "HK": 480, "MO": 480, "TW": 480, "MN": 480, "BN": 480, "KP": 540, "KR": 540,
	"JP": 540, "AU": 600, "PG": 600, "NZ": 720, "FJ": 720,
}

// LocalHour returns the hour of day, 0 to 23, at instant t in country (ISO
// 3166-1 alpha-2, any case), using the approximation of
// countryOffsetMinutes; -1 when the country is not known.
func LocalHour(country string, t time.Time) int {
	off, ok := countryOffsetMinutes[strings.ToUpper(strings.TrimSpace(country))]
	if !ok {
		return -1
	}
	return t.UTC().Add(time.Duration(off) * time.Minute).Hour()
}
