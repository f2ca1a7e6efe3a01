package delta

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// hardenedCert is what CERT-CHAIN and CERT-KEY record for the reference stack's hardened broker.
func hardenedCert() map[string]any {
	return map[string]any{
		"cert.fingerprint": "sha256:aa", "cert.serial": "01",
		"cert.issuer": "CN=rig run CA,O=pathrig", "cert.signature": "ECDSA-SHA256", "cert.key": "ECDSA P-256",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestCompareFacts(t *testing.T) {
	renewed := with(hardenedCert(), "cert.fingerprint", "sha256:bb", "cert.serial", "02")
	for _, tc := range []struct {
		name          string
		before, after map[string]any
		drift         []string // "fact:change"
		routine       []string
	}{
		{"identical", hardenedCert(), hardenedCert(), nil, nil},
		{"renewed with the same key policy", hardenedCert(), renewed, nil,
			[]string{"cert.fingerprint:routine", "cert.serial:routine"}},
		{"renewed with a weaker key", hardenedCert(), with(renewed, "cert.key", "RSA 2048", "cert.signature", "SHA256-RSA"),
			[]string{"cert.key:weaker", "cert.signature:changed"},
			[]string{"cert.fingerprint:routine", "cert.serial:routine"}},
		{"a stronger key", map[string]any{"cert.key": "RSA 2048"}, map[string]any{"cert.key": "RSA 4096"}, []string{"cert.key:stronger"}, nil},
		{"same strength, other type", map[string]any{"cert.key": "RSA 3072"}, map[string]any{"cert.key": "ECDSA P-256"}, []string{"cert.key:changed"}, nil},
		{"SHA-1 signature", map[string]any{"cert.signature": "SHA256-RSA"}, map[string]any{"cert.signature": "SHA1-RSA"}, []string{"cert.signature:weaker"}, nil},
		{"another issuer", hardenedCert(), with(hardenedCert(), "cert.issuer", "CN=other CA"), []string{"cert.issuer:changed"}, nil},
		{"a new accepted version", map[string]any{"tls.versions": []string{"TLS 1.2", "TLS 1.3"}},
			map[string]any{"tls.versions": []string{"TLS 1.1", "TLS 1.2", "TLS 1.3"}}, []string{"tls.versions:weaker"}, nil},
		{"a version dropped", map[string]any{"tls.versions": []string{"TLS 1.2", "TLS 1.3"}},
			map[string]any{"tls.versions": []string{"TLS 1.3"}}, []string{"tls.versions:stronger"}, nil},
		{"a suite swapped", map[string]any{"tls.suites": []string{"TLS 1.2 A", "TLS 1.2 B"}},
			map[string]any{"tls.suites": []string{"TLS 1.2 A", "TLS 1.2 C"}}, []string{"tls.suites:weaker"}, nil},
		{"another broker build", map[string]any{"broker.version": "2.7.9"}, map[string]any{"broker.version": "2.8.0"}, []string{"broker.version:changed"}, nil},
		{"broker version no longer readable", map[string]any{"broker.version": "2.7.9", "mqtt.suback.sys": "0x00"}, map[string]any{"mqtt.suback.sys": "0x00"}, []string{"broker.version:changed"}, nil},
		{"client auth optional", map[string]any{"tls.client_auth": "required"}, map[string]any{"tls.client_auth": "optional"}, []string{"tls.client_auth:weaker"}, nil},
		{"another HTTP code", map[string]any{"http.status.none": 401}, map[string]any{"http.status.none": 403}, []string{"http.status.none:changed"}, nil},
		{"a longer lifetime", map[string]any{"cert.lifetime_days": 90}, map[string]any{"cert.lifetime_days": 365}, []string{"cert.lifetime_days:weaker"}, nil},
		{"the baseline recorded no facts", nil, hardenedCert(), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drift, routine := CompareFacts(tc.before, tc.after)
			if got := names(drift); !reflect.DeepEqual(got, tc.drift) {
				t.Errorf("drift = %v, want %v", got, tc.drift)
			}
			if got := names(routine); !reflect.DeepEqual(got, tc.routine) {
				t.Errorf("routine = %v, want %v", got, tc.routine)
			}
		})
	}
}

func names(cs []FactChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Fact+":"+string(c.Change))
	}
	return out
}

// TestFactsFromJSON: facts read back from run.json (numbers as float64, lists as []any) compare
// equal to the same facts as the checks wrote them.
func TestFactsFromJSON(t *testing.T) {
	orig := map[string]any{"http.status.none": 401, "tls.versions": []string{"TLS 1.2", "TLS 1.3"}, "cert.self_signed": false}
	b, _ := json.Marshal(orig)
	var back map[string]any
	json.Unmarshal(b, &back)
	if drift, routine := CompareFacts(orig, back); drift != nil || routine != nil {
		t.Errorf("a JSON round trip drifted: %v %v", drift, routine)
	}
	d, _ := CompareFacts(back, map[string]any{"http.status.none": 401, "tls.versions": []any{"TLS 1.1", "TLS 1.2", "TLS 1.3"}, "cert.self_signed": false})
	if len(d) != 1 || d[0].Fact != "tls.versions" || !reflect.DeepEqual(d[0].Added, []string{"TLS 1.1"}) || len(d[0].Removed) != 0 {
		t.Errorf("drift = %+v, want tls.versions + TLS 1.1", d)
	}
	if got, want := d[0].String(), "tls.versions: + TLS 1.1 (weaker)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestDriftOnlyForTheSameVerdict: a changed verdict is an improvement or regression, never drift;
// the delta counts drifted rows, puts them first among unchanged ones and says so in its headline.
func TestDriftOnlyForTheSameVerdict(t *testing.T) {
	weak := with(hardenedCert(), "cert.key", "RSA 2048")
	r := func(control string, s record.Status, facts map[string]any) record.Result {
		return record.Result{Control: control, Check: "broker-cert", Status: s, Severity: record.SeverityHigh, Facts: facts}
	}
	a := &record.Run{Results: []record.Result{
		r("CERT-KEY", record.StatusPass, hardenedCert()), r("CERT-A", record.StatusPass, hardenedCert()),
		r("CERT-B", record.StatusPass, hardenedCert()), r("CERT-ERR", record.StatusError, hardenedCert()),
	}}
	b := &record.Run{Results: []record.Result{
		r("CERT-KEY", record.StatusPass, weak), r("CERT-A", record.StatusPass, hardenedCert()),
		r("CERT-B", record.StatusFail, weak), r("CERT-ERR", record.StatusError, weak),
	}}
	a.Summarize()
	b.Summarize()
	d := Compare(a, b, "a", "b")
	if d.Summary.Drifted != 1 || d.Summary.Headline != "0 controls improved · 1 regression · 1 control drifted" {
		t.Errorf("summary = %+v", d.Summary)
	}
	for _, row := range d.Rows {
		if (len(row.Drift) > 0) != (row.Control == "CERT-KEY") {
			t.Errorf("%s (%s): drift %v", row.Control, row.Class, row.Drift)
		}
	}
	if d.Rows[1].Control != "CERT-KEY" {
		t.Errorf("rows %v: want the regression, then the drifted row", []string{d.Rows[0].Control, d.Rows[1].Control})
	}
}
