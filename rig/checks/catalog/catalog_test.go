package catalog

import (
	"strings"
	"testing"
)

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
	checks := []Declared{{ID: "t", Controls: []string{"T-ONE"}, Thresholds: map[string][]string{"T-ONE": {"warn_days"}}}}
	cat, err := Parse("test.yaml", []byte(good), checks)
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
			_, err := Parse("test.yaml", []byte(tc.edit(good)), checks)
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
	_, err = Parse("test.yaml", []byte(good), []Declared{{ID: "t", Controls: []string{"T-ONE", "T-TWO"}}})
	if err == nil || !strings.Contains(err.Error(), `check "t" evaluates`) {
		t.Errorf("err = %v, want a registry/catalog mismatch", err)
	}
}

func rep(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}
