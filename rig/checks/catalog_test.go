package checks

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks/certjudge"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/record"
)

func TestCatalog(t *testing.T) {
	cat, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]record.Severity{
		"TRANSPORT-PLAINTEXT": record.SeverityHigh, "TRANSPORT-TLS-LEGACY": record.SeverityHigh,
		"TRANSPORT-CIPHERS": record.SeverityCritical, "TRANSPORT-TLS-MQTT": record.SeverityMedium, "TRANSPORT-CLIENT-AUTH": record.SeverityMedium,
		"CERT-CHAIN": record.SeverityHigh, "CERT-SAN": record.SeverityHigh, "CERT-EXPIRY": record.SeverityCritical, "CERT-KEY": record.SeverityHigh,
		"CERT-SIGNATURE": record.SeverityHigh, "CERT-LIFETIME": record.SeverityMedium,
		"INGEST-OVERSIZE": record.SeverityMedium, "INGEST-OTHER-TENANT": record.SeverityHigh, "INGEST-EXPIRED": record.SeverityHigh, "INGEST-PLAINTEXT": record.SeverityHigh,
		"DEVCERT-CHAIN": record.SeverityHigh, "DEVCERT-EXPIRY": record.SeverityCritical, "DEVCERT-KEY": record.SeverityHigh, "DEVCERT-SIGNATURE": record.SeverityHigh,
		"DEVCERT-EKU": record.SeverityMedium, "DEVCERT-UNIQUE": record.SeverityHigh, "DEVCERT-BINDING": record.SeverityHigh,
		"GUARD-SUB-SYS": record.SeverityMedium, "GUARD-SUB-OTHER": record.SeverityHigh, "GUARD-PUB-OTHER": record.SeverityHigh, "GUARD-RATE": record.SeverityMedium, "GUARD-UART": record.SeverityHigh, "GUARD-MGMT": record.SeverityHigh,
		"INGEST-UNAUTH": record.SeverityHigh, "INGEST-WRONGCRED": record.SeverityHigh,
		"GUARD-ANON": record.SeverityHigh, "GUARD-SUB-WILDCARD": record.SeverityHigh, "GUARD-MAX-PACKET": record.SeverityMedium, "GUARD-HEALTH": record.SeverityHigh,
		"TRUST-LOSS": record.SeverityHigh, "TRUST-DUPLICATES": record.SeverityMedium, "TRUST-VALUES": record.SeverityHigh, "TRUST-LATENCY": record.SeverityMedium, "TRUST-RECOVERY": record.SeverityMedium,
		"SUP-SECURITY-TXT": record.SeverityMedium, "SUP-SBOM": record.SeverityMedium, "SUP-VULN": record.SeverityHigh, "SUP-SUPPORT": record.SeverityHigh,
		"OBS-AUTH-EVENTS": record.SeverityMedium, "OBS-ACL-EVENTS": record.SeverityMedium, "OBS-INGEST-EVENTS": record.SeverityMedium, "OBS-UART-EVENTS": record.SeverityLow,
		"OBS-METRICS-AUTH": record.SeverityMedium, "OBS-GAP-ALERT": record.SeverityMedium, "OBS-CLOCK": record.SeverityLow, "OBS-LOG-SECRETS": record.SeverityHigh,
		"IDENT-TAKEOVER": record.SeverityHigh, "IDENT-LOCKOUT": record.SeverityMedium, "IDENT-RETAIN-ACL": record.SeverityHigh,
		"IDENT-WILL-ACL": record.SeverityHigh, "IDENT-MQTT5": record.SeverityHigh, "IDENT-WEBSOCKET": record.SeverityHigh,
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
		if m := regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`).FindString(text); m != "" {
			t.Errorf("%s: %s left unexpanded", c.ID, m)
		}
		for k, v := range c.Thresholds {
			if !strings.Contains(text, strconv.Itoa(v)) {
				t.Errorf("%s: threshold %s = %d is quoted in none of its texts", c.ID, k, v)
			}
		}
	}
	// The checks read what the catalog says.
	env := &check.Env{}
	if w := certjudge.RenewalOf(env, "CERT-EXPIRY"); w.WarnDays != 60 || w.HighDays != 30 {
		t.Errorf("CERT-EXPIRY renewal window %+v, want 60 and 30 days", w)
	}
	if f := certjudge.KeyFloorOf(env, "DEVCERT-KEY"); f.RSA != 2048 || f.EC != 256 {
		t.Errorf("DEVCERT-KEY floor %+v, want RSA 2048 and EC 256", f)
	}
	if dh, ecdh, exportDH := env.Threshold("TRANSPORT-CIPHERS", check.ThMinDHBits), env.Threshold("TRANSPORT-CIPHERS", check.ThMinECDHBits), env.Threshold("TRANSPORT-CIPHERS", check.ThExportGradeDHBits); dh != 2048 || ecdh != 256 || exportDH != 1024 {
		t.Errorf("TRANSPORT-CIPHERS floors: DH %d, ECDH %d, export-grade DH %d", dh, ecdh, exportDH)
	}
}
