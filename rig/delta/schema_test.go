package delta

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/record"
)

func compileDeltaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(record.DeltaSchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("delta.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("delta.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeltaSchema validates real deltas against schema/delta.v1.json: the two runs rig run
// audit-baseline made for the report fixtures (exposed and hardened profiles), compared both
// ways, and the delta.json files the report's golden tests hold. Broken documents are refused.
func TestDeltaSchema(t *testing.T) {
	s := compileDeltaSchema(t)
	fixtures := filepath.Join("..", "report", "testdata")
	exposed, err := record.ReadRun(filepath.Join(fixtures, "exposed"))
	if err != nil {
		t.Fatal(err)
	}
	hardened, err := record.ReadRun(filepath.Join(fixtures, "hardened"))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := record.ReadRun(filepath.Join(fixtures, "trust"))
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, b []byte) error {
		t.Helper()
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return s.Validate(doc)
	}
	for name, d := range map[string]*Delta{
		"improved":               Compare(exposed, hardened, "exposed", "hardened"),
		"regressed":              Compare(hardened, exposed, "hardened", "exposed"),
		"new and removed":        Compare(trust, exposed, "trust", "exposed"),
		"the same run unchanged": Compare(exposed, exposed, "exposed", "exposed"),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(t, b); err != nil {
				t.Errorf("delta.json does not validate: %v", err)
			}
		})
	}
	golden, _ := filepath.Glob(filepath.Join(fixtures, "golden", "*", File))
	if len(golden) == 0 {
		t.Fatal("no golden delta.json to validate")
	}
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, b); err != nil {
			t.Errorf("%s does not validate: %v", p, err)
		}
	}

	good, _ := json.Marshal(Compare(exposed, hardened, "exposed", "hardened"))
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"other schema version", func(m map[string]any) { m["schema"] = "rig.delta/v2" }},
		{"unknown class", func(m map[string]any) { row(m, 0)["class"] = "better" }},
		{"improved without an after side", func(m map[string]any) { delete(row(m, 0), "after") }},
		{"improved to a failure", func(m map[string]any) { row(m, 0)["after"].(map[string]any)["status"] = "fail" }},
		{"evidence outside the run folder", func(m map[string]any) {
			row(m, 0)["before"].(map[string]any)["evidence"] = []any{"../other/run.json"}
		}},
		{"no summary", func(m map[string]any) { delete(m, "summary") }},
		{"a negative count", func(m map[string]any) { m["summary"].(map[string]any)["regressed"] = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(good, &m)
			tc.mutate(m)
			b, _ := json.Marshal(m)
			if err := validate(t, b); err == nil {
				t.Error("validated; want a refusal")
			}
		})
	}
}

func row(m map[string]any, i int) map[string]any { return m["rows"].([]any)[i].(map[string]any) }
