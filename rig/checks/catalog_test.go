package checks

import (
	"github.com/pathrig/rig/rig/checks/identity"
	"strconv"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

func TestCatalog(t *testing.T) {
	cat, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]record.Severity{
		ctlPlaintext: record.SeverityHigh, ctlTLSLegacy: record.SeverityHigh,
		ctlCiphers: record.SeverityCritical, ctlTLSMQTT: record.SeverityMedium, ctlClientAuth: record.SeverityMedium,
		ctlCertChain: record.SeverityHigh, ctlCertSAN: record.SeverityHigh, ctlCertExpiry: record.SeverityCritical, ctlCertKey: record.SeverityHigh,
		ctlCertSignature: record.SeverityHigh, ctlCertLifetime: record.SeverityMedium,
		ctlIngestOversize: record.SeverityMedium, ctlIngestOtherTenant: record.SeverityHigh, ctlIngestExpired: record.SeverityHigh, ctlIngestPlaintext: record.SeverityHigh,
		ctlDevChain: record.SeverityHigh, ctlDevExpiry: record.SeverityCritical, ctlDevKey: record.SeverityHigh, ctlDevSignature: record.SeverityHigh,
		ctlDevEKU: record.SeverityMedium, ctlDevUnique: record.SeverityHigh, ctlDevBinding: record.SeverityHigh,
		ctlGuardSys: record.SeverityMedium, ctlGuardSubOther: record.SeverityHigh, ctlGuardPubOther: record.SeverityHigh, ctlGuardRate: record.SeverityMedium, ctlGuardUART: record.SeverityHigh, ctlGuardMgmt: record.SeverityHigh,
		ctlIngestUnauth: record.SeverityHigh, ctlIngestWrongCred: record.SeverityHigh,
		ctlGuardAnon: record.SeverityHigh, ctlGuardWildcard: record.SeverityHigh, ctlGuardMaxPacket: record.SeverityMedium, ctlGuardHealth: record.SeverityHigh,
		ctlTrustLoss: record.SeverityHigh, ctlTrustDuplicates: record.SeverityMedium, ctlTrustValues: record.SeverityHigh, ctlTrustLatency: record.SeverityMedium, ctlTrustRecovery: record.SeverityMedium,
		ctlSupSecurityTxt: record.SeverityMedium, ctlSupSBOM: record.SeverityMedium, ctlSupVuln: record.SeverityHigh, ctlSupSupport: record.SeverityHigh,
		identity.CtlTakeover: record.SeverityHigh, identity.CtlLockout: record.SeverityMedium, identity.CtlRetainACL: record.SeverityHigh,
		identity.CtlWillACL: record.SeverityHigh, identity.CtlMQTT5: record.SeverityHigh, identity.CtlWebSocket: record.SeverityHigh,
	}
	if len(cat) != len(want) {
		t.Errorf("catalog has %d controls, want %d", len(cat), len(want))
	}
	for _, c := range cat {
		if c.Severity != want[c.ID] {
			t.Errorf("%s: severity %q, want %q", c.ID, c.Severity, want[c.ID])
		}
	}
	// Catalog hands out copies: a caller cannot edit the definitions.
	cat[0].References[0] = "edited"
	again, _ := Catalog()
	if again[0].References[0] == "edited" {
		t.Error("Catalog returned shared slices")
	}
}

// TestParseCatalogRefuses: every kind of bad definition is refused with file, line and field.
func TestParseCatalogRefuses(t *testing.T) {
	good := `controls:
  - id: T-ONE
    check: t
    title: One
    verifies: v
    pass: p
    severity: high
    hop: broker
    effort: S
    thresholds: {warn_days: 60}
    remediation: r within {warn_days} days
    verification: v
    references: [ETSI EN 303 645 5.5-1]
`
	checks := []Check{{ID: "t", Controls: []string{"T-ONE"}, Thresholds: map[string][]string{"T-ONE": {"warn_days"}}}}
	cat, err := parseCatalog("test.yaml", []byte(good), checks)
	if err != nil {
		t.Fatalf("good catalog refused: %v", err)
	}
	if got := cat[0].Remediation; got != "r within 60 days" {
		t.Errorf("remediation %q: the threshold is not quoted", got)
	}
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unknown field", func(s string) string { return s + "    owner: me\n" }, []string{"test.yaml", "owner"}},
		{"duplicate key", func(s string) string { return s + "    title: Again\n" }, []string{"test.yaml", "title"}},
		{"bad severity", rep("severity: high", "severity: severe"), []string{"test.yaml:2", "field severity", "severe"}},
		{"lower-case id", rep("id: T-ONE", "id: t-one"), []string{"test.yaml:2", "field id"}},
		{"unknown check", rep("check: t", "check: nope"), []string{"field check", `unknown check "nope"`}},
		{"missing remediation", rep("remediation: r within {warn_days} days", "remediation: ''"), []string{"field remediation", "missing"}},
		{"missing hop", rep("    hop: broker\n", ""), []string{"test.yaml:2", "field hop", "missing"}},
		{"unknown hop", rep("hop: broker", "hop: cloud"), []string{"test.yaml:2", "field hop", `"cloud"`}},
		{"missing effort", rep("    effort: S\n", ""), []string{"test.yaml:2", "field effort", "missing"}},
		{"unknown effort", rep("effort: S", "effort: XL"), []string{"field effort", `"XL"`}},
		{"missing threshold", rep("thresholds: {warn_days: 60}", "thresholds: {}"), []string{"field thresholds", "missing warn_days"}},
		{"threshold no check reads", rep("{warn_days: 60}", "{warn_days: 60, high_days: 30}"), []string{"field thresholds.high_days", "does not read it"}},
		{"threshold not positive", rep("warn_days: 60", "warn_days: 0"), []string{"field thresholds.warn_days", "positive"}},
		{"threshold not a number", rep("warn_days: 60", "warn_days: sixty"), []string{"test.yaml", "[10:"}},
		{"text quotes an unknown threshold", rep("verification: v", "verification: v {high_days}"), []string{"field verification", "{high_days}"}},
		{"unknown reference", rep("5.5-1", "5.5-99"), []string{"field references", "5.5-99"}},
		{"no references", rep("references: [ETSI EN 303 645 5.5-1]", "references: []"), []string{"field references", "missing"}},
		{"duplicate id", func(s string) string { return s + strings.TrimPrefix(s, "controls:\n") }, []string{"test.yaml:14", "duplicate control ID"}},
		{"not a list", func(string) string { return "controls: {}\n" }, []string{"test.yaml"}},
		{"empty", func(string) string { return "" }, []string{"no controls"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCatalog("test.yaml", []byte(tc.edit(good)), checks)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// A registered check whose controls the catalog does not list is refused too.
	_, err = parseCatalog("test.yaml", []byte(good), []Check{{ID: "t", Controls: []string{"T-ONE", "T-TWO"}}})
	if err == nil || !strings.Contains(err.Error(), `check "t" evaluates`) {
		t.Errorf("err = %v, want a registry/catalog mismatch", err)
	}
}

func rep(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

// TestCatalogQuotesItsThresholds: every {name} in the catalog's texts was replaced, and every
// threshold a check reads is quoted in one of its control's texts, so a reader of `rig checks`
// sees the number the verdict uses.
func TestCatalogQuotesItsThresholds(t *testing.T) {
	cat, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cat {
		text := strings.Join([]string{c.Title, c.Verifies, c.Pass, c.Remediation, c.Verification}, "\n")
		if m := placeholder.FindString(text); m != "" {
			t.Errorf("%s: %s left unexpanded", c.ID, m)
		}
		for k, v := range c.Thresholds {
			if !strings.Contains(text, strconv.Itoa(v)) {
				t.Errorf("%s: threshold %s = %d is quoted in none of its texts", c.ID, k, v)
			}
		}
	}
	// The checks read what the catalog says.
	env := &Env{}
	if w := renewalOf(env, ctlCertExpiry); w.warnDays != 60 || w.highDays != 30 {
		t.Errorf("CERT-EXPIRY renewal window %+v, want 60 and 30 days", w)
	}
	if f := keyFloorOf(env, ctlDevKey); f.rsa != 2048 || f.ec != 256 {
		t.Errorf("DEVCERT-KEY floor %+v, want RSA 2048 and EC 256", f)
	}
	if f := kexFloorOf(env); f.dh != 2048 || f.ecdh != 256 || f.exportDH != 1024 {
		t.Errorf("TRANSPORT-CIPHERS floors %+v", f)
	}
}
