package record

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileRunSchema compiles schema/run.v1.json for tests (here and in the engine's, which
// validate real output).
func compileRunSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(RunSchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("run.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("run.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunSchema(t *testing.T) {
	s := compileRunSchema(t)
	good := &Run{
		Schema: SchemaRun, Tool: Tool{Name: "rig", Version: "test"}, Scenario: "s", Profile: "p",
		Bundles: []string{"b"}, Checks: []string{"transport"},
		Device: &Device{UID: "303030313233343536373839", Firmware: "1.0.0", Boot: 1},
		Results: []Result{{Control: "TRANSPORT-PLAINTEXT", Check: "transport", Title: "t", Status: StatusFail, Severity: SeverityHigh,
			Reason: "r", Observed: map[string]any{"answer": "connack"}, Evidence: []string{"evidence/TRANSPORT-PLAINTEXT/connect.json"},
			Facts: map[string]any{"mqtt.plain.answer": "connack", "mqtt.plain.connack": 0, "cert.self_signed": false, "tls.versions": []string{"TLS 1.2", "TLS 1.3"}}},
			{Control: "TRANSPORT-TLS-LEGACY", Check: "transport", Title: "t", Status: StatusFail, Severity: SeverityMedium, Reason: "r", Evidence: []string{},
				Waiver: &Waiver{Reason: "old gateways until the fleet update", Owner: "ops", Expires: "2026-09-30", Source: "waivers.yaml:2"}}},
		Waivers: []WaiverNote{
			{Control: "TRANSPORT-TLS-LEGACY", Waiver: Waiver{Reason: "old gateways until the fleet update", Owner: "ops", Expires: "2026-09-30", Source: "waivers.yaml:2"}, State: WaiverApplied, Note: "accepted"},
			{Control: "GUARD-RATE", Waiver: Waiver{Reason: "r", Expires: "2025-01-31", Source: "waivers.yaml:6"}, State: WaiverNotApplicable, Note: "not run"},
		},
		Decision: &Decision{Verdict: "hold", Why: "w", Rule: "transport-exposed", Source: "embedded:decisions/default.yaml:10", Matched: "TRANSPORT-PLAINTEXT"},
	}
	good.Summarize()
	b, _ := json.Marshal(good)
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		valid  bool
	}{
		{"real shape", func(map[string]any) {}, true},
		{"unknown top-level key", func(m map[string]any) { m["started"] = "2026-01-01T00:00:00Z" }, false},
		{"bad status", func(m map[string]any) { m["results"].([]any)[0].(map[string]any)["status"] = "ok" }, false},
		{"evidence outside the folder", func(m map[string]any) {
			m["results"].([]any)[0].(map[string]any)["evidence"] = []any{"/tmp/x"}
		}, false},
		{"fact without a dotted name", func(m map[string]any) {
			m["results"].([]any)[0].(map[string]any)["facts"].(map[string]any)["Key"] = "RSA 2048"
		}, false},
		{"fact that is an object", func(m map[string]any) {
			m["results"].([]any)[0].(map[string]any)["facts"].(map[string]any)["cert.key"] = map[string]any{"type": "RSA"}
		}, false},
		{"fact list of numbers", func(m map[string]any) {
			m["results"].([]any)[0].(map[string]any)["facts"].(map[string]any)["tls.versions"] = []any{1.2}
		}, false},
		{"other schema version", func(m map[string]any) { m["schema"] = "rig.run/v2" }, false},
		{"time outside volatile", func(m map[string]any) { m["volatile"].(map[string]any)["started"] = "yesterday" }, false},
		{"a record from before waivers", func(m map[string]any) {
			delete(m["summary"].(map[string]any), "waived")
			delete(m, "waivers")
			delete(m, "decision")
			delete(m["results"].([]any)[1].(map[string]any), "waiver")
		}, true},
		{"a waiver on a passing control", func(m map[string]any) { m["results"].([]any)[1].(map[string]any)["status"] = "pass" }, false},
		{"a waiver without a reason", func(m map[string]any) {
			delete(m["results"].([]any)[1].(map[string]any)["waiver"].(map[string]any), "reason")
		}, false},
		{"a waiver expiry that is not a date", func(m map[string]any) {
			m["results"].([]any)[1].(map[string]any)["waiver"].(map[string]any)["expires"] = "next year"
		}, false},
		{"an unknown waiver state", func(m map[string]any) { m["waivers"].([]any)[0].(map[string]any)["state"] = "ignored" }, false},
		{"an unknown decision", func(m map[string]any) { m["decision"].(map[string]any)["verdict"] = "ship it" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(b, &m)
			tc.mutate(m)
			err := s.Validate(m)
			if (err == nil) != tc.valid {
				t.Errorf("valid = %v, want %v (%v)", err == nil, tc.valid, err)
			}
		})
	}
}
