package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/identity"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/scenarios"
)

func plan(t *testing.T, name, profile string) *scenario.Plan {
	t.Helper()
	var ids []string
	for _, c := range checks.All() {
		ids = append(ids, c.ID)
	}
	p, err := scenario.Library{Embedded: scenarios.FS}.Load(name, profile, ids)
	if err != nil {
		t.Fatalf("load %s/%s: %v", name, profile, err)
	}
	return p
}

// secretsSeen collects every secret of every stack the tests start.
var secretsSeen = struct {
	sync.Mutex
	all []string
}{}

func runPlan(t *testing.T, p *scenario.Plan) (*record.Run, string) {
	t.Helper()
	return runPlanWith(t, p, Outputs{})
}

func runPlanWith(t *testing.T, p *scenario.Plan, o Outputs) (*record.Run, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), p.Profile.Name)
	run, err := Run(context.Background(), p, Options{Out: out, Version: "test", Outputs: o, OnSecrets: func(s []string) {
		secretsSeen.Lock()
		secretsSeen.all = append(secretsSeen.all, s...)
		secretsSeen.Unlock()
	}})
	if err != nil {
		t.Fatalf("run %s/%s: %v", p.Scenario.Name, p.Profile.Name, err)
	}
	onDisk, err := record.ReadRun(out)
	if err != nil {
		t.Fatalf("read back run.json: %v", err)
	}
	if onDisk.Summary != run.Summary || len(onDisk.Results) != len(run.Results) {
		t.Errorf("run.json differs from the returned record")
	}
	return run, out
}

// TestAuditStory runs the audit-baseline scenario against the live reference stack in both
// hardening states: every control fails on the exposed path except runtime health (pass) and
// IDENT-MQTT5 (skip: MQTT 3.1.1 enforces nothing there to compare MQTT 5 with), every control
// passes on the hardened one, and the delta improves exactly the baseline's findings.
func TestAuditStory(t *testing.T) {
	exposed, exposedDir := runPlan(t, plan(t, "audit-baseline", ""))
	hardened, hardenedDir := runPlan(t, plan(t, "audit-baseline", "hardened"))

	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, c := range cat {
		for _, id := range exposed.Checks {
			if c.Check == id {
				want[c.ID] = true
			}
		}
	}
	for name, run := range map[string]*record.Run{"exposed": exposed, "hardened": hardened} {
		if len(run.Results) != len(want) {
			t.Errorf("%s: %d results, want one per control of the bundle (%d)", name, len(run.Results), len(want))
		}
		for _, r := range run.Results {
			wantStatus := record.StatusPass
			if name == "exposed" && r.Control != "GUARD-HEALTH" {
				wantStatus = record.StatusFail
			}
			if name == "exposed" && r.Control == identity.CtlMQTT5 {
				wantStatus = record.StatusSkip
			}
			if r.Status != wantStatus {
				t.Errorf("%s: %s = %s (%s), want %s", name, r.Control, r.Status, r.Reason, wantStatus)
			}
			if len(r.Evidence) == 0 && r.Status != record.StatusSkip {
				t.Errorf("%s: %s has no evidence", name, r.Control)
			}
			for _, e := range r.Evidence {
				dir := exposedDir
				if name == "hardened" {
					dir = hardenedDir
				}
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(e))); err != nil {
					t.Errorf("%s: %s evidence %s: %v", name, r.Control, e, err)
				}
			}
		}
	}
	if exposed.Summary.Findings != len(want)-2 || !strings.HasPrefix(exposed.Summary.Headline, "Exposed posture") {
		t.Errorf("exposed summary = %+v", exposed.Summary)
	}
	if hardened.Summary.Findings != 0 || hardened.Summary.Headline != "Hardened path · 0 findings" {
		t.Errorf("hardened summary = %+v", hardened.Summary)
	}
	if exposed.Device == nil || exposed.Device.UID != "303030313233343536373839" {
		t.Errorf("device identity read over the UART = %+v", exposed.Device)
	}
	d := delta.Compare(exposed, hardened, exposedDir, hardenedDir)
	if d.Summary.Improved != exposed.Summary.Findings || d.Summary.Regressed != 0 {
		t.Errorf("delta = %+v, want improved %d and regressed 0", d.Summary, exposed.Summary.Findings)
	}
	assertIdentityStory(t, exposed, hardened, d)
	back := delta.Compare(hardened, exposed, hardenedDir, exposedDir)
	// Back to exposed, IDENT-MQTT5 goes pass → skip: a verified control no longer verified.
	if back.Summary.Regressed != exposed.Summary.Findings+1 {
		t.Errorf("reverse delta regressed = %d, want %d", back.Summary.Regressed, exposed.Summary.Findings+1)
	}

	// The hardened run against the exposed one as its baseline: delta/ inside the run folder.
	_, againDir := runPlanWith(t, plan(t, "audit-baseline", "hardened"), Outputs{Baseline: exposedDir})
	for _, dir := range []string{exposedDir, hardenedDir, againDir} {
		checkRunFolder(t, dir)
	}
	scanForSecrets(t, exposedDir, hardenedDir, againDir)
}

// checkRunFolder validates a real run folder: run.json against its JSON Schema, nothing volatile
// outside volatile, every writer's file present, and the manifest matching.
func checkRunFolder(t *testing.T, dir string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, record.RunFile))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := runSchema(t).Validate(doc); err != nil {
		t.Errorf("%s/run.json does not validate against rig/record/schema/run.v1.json: %v", dir, err)
	}
	var run record.Run
	if err := json.Unmarshal(raw, &run); err != nil {
		t.Fatal(err)
	}
	stable, _ := json.Marshal(struct {
		R []record.Result
		D *record.Device
		S record.Summary
	}{run.Results, run.Device, run.Summary})
	var leaks []string
	for _, v := range run.Volatile.Targets {
		leaks = append(leaks, v)
		if i := strings.LastIndex(v, ":"); i > 0 {
			leaks = append(leaks, v[i:]) // ":<port>"
		}
	}
	leaks = append(leaks, os.TempDir()+"/rig-run-", run.Volatile.Started.Format("2006-01-02T15"))
	for _, l := range leaks {
		if l != "" && bytes.Contains(stable, []byte(l)) {
			t.Errorf("%s/run.json: volatile value %q leaks into results, device or summary", dir, l)
		}
	}
	for _, w := range report.Writers() {
		if _, err := os.Stat(filepath.Join(dir, w.File)); err != nil {
			t.Errorf("writer %s: %v", w.Name, err)
		}
	}
	sarif, err := os.ReadFile(filepath.Join(dir, "findings.sarif"))
	if err != nil {
		t.Fatal(err)
	}
	sdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sarif))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "report", "testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(sdoc); err != nil {
		t.Errorf("%s/findings.sarif does not validate against SARIF 2.1.0: %v", dir, err)
	}
	rep, err := manifest.Verify(dir, nil)
	if err != nil || !rep.OK() {
		t.Errorf("%s: manifest: %v %v", dir, err, rep)
	}
}

var runSchema = func() func(t *testing.T) *jsonschema.Schema {
	var once sync.Once
	var s *jsonschema.Schema
	var err error
	return func(t *testing.T) *jsonschema.Schema {
		once.Do(func() {
			var doc any
			if doc, err = jsonschema.UnmarshalJSON(bytes.NewReader(record.RunSchemaJSON)); err != nil {
				return
			}
			c := jsonschema.NewCompiler()
			c.AssertFormat()
			if err = c.AddResource("run.v1.json", doc); err != nil {
				return
			}
			s, err = c.Compile("run.v1.json")
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}()

// scanForSecrets reads every file of the given folders and fails on any secret of any stack the
// tests started: passwords, tokens, and private keys whole or by any line of their base64 body,
// as they are or encoded in base64.
func scanForSecrets(t *testing.T, dirs ...string) {
	t.Helper()
	secretsSeen.Lock()
	secrets := append([]string(nil), secretsSeen.all...)
	secretsSeen.Unlock()
	if len(secrets) < 5 {
		t.Fatalf("only %d secrets seen: the hook is not wired", len(secrets))
	}
	needles := secretNeedles(secrets)
	// The scanner itself must find a planted secret, or a clean result means nothing.
	planted := t.TempDir()
	os.WriteFile(filepath.Join(planted, "leak.txt"), []byte("x "+needles[len(needles)-1]+" y"), 0o644)
	if hits, _ := findSecrets(needles, planted); len(hits) != 1 {
		t.Fatalf("the scanner found %d hits in a file with one planted secret", len(hits))
	}
	hits, files := findSecrets(needles, dirs...)
	for _, h := range hits {
		t.Error(h)
	}
	t.Logf("scanned %d files for %d secrets (%d needles)", files, len(secrets), len(needles))
}

func secretNeedles(secrets []string) []string {
	var needles []string
	for _, s := range secrets {
		needles = append(needles, s)
		if strings.Contains(s, "PRIVATE KEY") {
			for _, line := range strings.Split(s, "\n") {
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					needles = append(needles, line)
				}
			}
		}
	}
	return needles
}

func findSecrets(needles []string, dirs ...string) (hits []string, files int) {
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			files++
			b, err := os.ReadFile(p)
			if err != nil {
				hits = append(hits, fmt.Sprintf("%s: unreadable: %v", p, err))
				return nil
			}
			for _, n := range needles {
				if bytes.Contains(b, []byte(n)) {
					hits = append(hits, fmt.Sprintf("%s holds a secret of the stack (%d bytes, starting %q)", p, len(n), n[:min(4, len(n))]))
				} else if base64Holds(b, n) {
					hits = append(hits, fmt.Sprintf("%s holds a secret of the stack in base64 (%d bytes, starting %q)", p, len(n), n[:min(4, len(n))]))
				}
			}
			if bytes.Contains(b, []byte("PRIVATE KEY")) {
				hits = append(hits, p+" holds a PEM private key marker")
			}
			return nil
		})
	}
	return hits, files
}

func TestRunRefusesNonEmptyFolder(t *testing.T) {
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), plan(t, "audit-baseline", ""), Options{Out: out})
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("err = %v, want ErrUsage", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "keep")); string(b) != "x" {
		t.Error("the existing file was touched")
	}
}

// assertIdentityStory checks the identity verdicts of the audit story: on the exposed path a
// second identity takes over a device's session, wrong passwords get in, retained messages and
// wills cross the ACL and the plain WebSocket listener takes anonymous clients; on the hardened
// path each is refused, the lockout releases the identity after its window, and the delta
// counts each of the five as improved (IDENT-MQTT5 goes skip → pass: unchanged).
func assertIdentityStory(t *testing.T, exposed, hardened *record.Run, d *delta.Delta) {
	t.Helper()
	byControl := func(run *record.Run) map[string]record.Result {
		m := map[string]record.Result{}
		for _, r := range run.Results {
			m[r.Control] = r
		}
		return m
	}
	ex, hd := byControl(exposed), byControl(hardened)
	tests := []struct {
		control             string
		exposed, hardened   record.Status
		observed            string
		exposedV, hardenedV any
		class               delta.Class
	}{
		{identity.CtlTakeover, record.StatusFail, record.StatusPass, "victim_session", "ended", "survived", delta.Improved},
		{identity.CtlRetainACL, record.StatusFail, record.StatusPass, "stored", true, false, delta.Improved},
		{identity.CtlWillACL, record.StatusFail, record.StatusPass, "refused_at_connect", false, true, delta.Improved},
		{identity.CtlMQTT5, record.StatusSkip, record.StatusPass, "", nil, nil, delta.Unchanged},
		{identity.CtlWebSocket, record.StatusFail, record.StatusPass, "scheme", "ws", "wss", delta.Improved},
		{identity.CtlLockout, record.StatusFail, record.StatusPass, "after_failures", "accepted", "refused", delta.Improved},
	}
	classes := map[string]delta.Class{}
	for _, row := range d.Rows {
		classes[row.Control] = row.Class
	}
	for _, tc := range tests {
		e, h := ex[tc.control], hd[tc.control]
		if e.Status != tc.exposed || h.Status != tc.hardened {
			t.Errorf("%s: exposed %s (%s), hardened %s (%s); want %s, %s", tc.control, e.Status, e.Reason, h.Status, h.Reason, tc.exposed, tc.hardened)
		}
		if tc.observed != "" && (e.Observed[tc.observed] != tc.exposedV || h.Observed[tc.observed] != tc.hardenedV) {
			t.Errorf("%s: observed %s = %v (exposed), %v (hardened); want %v, %v", tc.control, tc.observed, e.Observed[tc.observed], h.Observed[tc.observed], tc.exposedV, tc.hardenedV)
		}
		if classes[tc.control] != tc.class {
			t.Errorf("%s: delta class %s, want %s", tc.control, classes[tc.control], tc.class)
		}
	}
	if h := hd[identity.CtlLockout]; h.Observed["released_after_window"] != true {
		t.Errorf("hardened lockout: the identity was not accepted again after the window (%v)", h.Observed)
	}
	if p := hd[identity.CtlMQTT5].Observed["connack_properties"]; p == nil {
		t.Errorf("hardened IDENT-MQTT5 records no CONNACK properties")
	}
}
