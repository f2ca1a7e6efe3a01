package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/scenarios"
)

var known = []string{"transport", "broker-cert", "ingest-auth", "guardrails"}

func TestEmbeddedDefaultsLoad(t *testing.T) {
	lib := Library{Embedded: scenarios.FS}
	for _, tc := range []struct{ scenario, profile string }{
		{"audit-baseline", ""},
		{"audit-baseline", "hardened"},
		{"hardening-verify", ""},
	} {
		plan, err := lib.Load(tc.scenario, tc.profile, known)
		if err != nil {
			t.Fatalf("Load(%s, %q): %v", tc.scenario, tc.profile, err)
		}
		if len(plan.Checks) == 0 {
			t.Errorf("Load(%s): no checks", tc.scenario)
		}
	}
}

// writeTree writes a scenario folder with a profile and a bundle and returns the scenario path.
func writeTree(t *testing.T, scenario, profile string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"s.yaml":          scenario,
		"profiles/p.yaml": profile,
		"bundles/b.yaml":  "name: b\nchecks: [transport]\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "s.yaml")
}

const goodScenario = "name: s\nprofile: p\nbundles: [b]\n"
const goodProfile = "name: p\nbroker:\n  plaintext: true\n  anonymous: true\n"

func TestBadFilesNameFileLineField(t *testing.T) {
	for _, tc := range []struct {
		name              string
		scenario, profile string
		wantFile          string
		wantLine          int
		wantField         string
		wantMsg           string
	}{
		{"unknown scenario key", goodScenario + "devcie:\n  uid: x\n", goodProfile, "s.yaml", 4, "devcie", "unknown field"},
		{"unknown nested key", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  kind: emulated\n  ud: x\n", goodProfile, "s.yaml", 6, "device.ud", "unknown field"},
		{"wrong type", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  baud: fast\n", goodProfile, "s.yaml", 5, "device.baud", "wrong type"},
		{"wrong type duration", "name: s\nprofile: p\nbundles: [b]\nlimits:\n  probe_timeout: soon\n", goodProfile, "s.yaml", 5, "limits.probe_timeout", "soon"},
		{"bad uid", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  uid: nothex\n", goodProfile, "s.yaml", 5, "device.uid", "24 hex digits"},
		{"missing profile", "name: s\nbundles: [b]\n", goodProfile, "s.yaml", 0, "profile", "missing"},
		{"unknown check", goodScenario + "checks: [transport, nope]\n", goodProfile, "s.yaml", 4, "checks[1]", `unknown check "nope"`},
		{"profile unknown key", goodScenario, goodProfile + "  max_packet: 10\n", "p.yaml", 5, "broker.max_packet", "unknown field"},
		{"profile wrong type", goodScenario, goodProfile + "  max_packet_size: big\n", "p.yaml", 5, "broker.max_packet_size", "wrong type"},
		{"profile bad enum", goodScenario, "name: p\nbroker:\n  plaintext: true\n  anonymous: true\n  tls:\n    enabled: true\n    min_version: \"1.5\"\n", "p.yaml", 7, "broker.tls.min_version", `"1.5" is not one of`},
		{"profile no listener", goodScenario, "name: p\nbroker:\n  anonymous: true\n", "p.yaml", 3, "broker", "no listener"},
		{"bad firmware part", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  firmware: 1.0.300\n", goodProfile, "s.yaml", 5, "device.firmware", "0..255"},
		{"tls field checked while tls is off", goodScenario, goodProfile + "  tls:\n    min_version: \"9.9\"\n", "p.yaml", 6, "broker.tls.min_version", `"9.9" is not one of`},
		{"missing profile file", "name: s\nprofile: nope\nbundles: [b]\n", goodProfile, "s.yaml", 2, "profile", `no profile named "nope"`},
		{"missing bundle file", "name: s\nprofile: p\nbundles: [b, gone]\n", goodProfile, "s.yaml", 3, "bundles[1]", `no bundle named "gone"`},
		{"profile syntax", goodScenario, "name: p\nbroker: [\n", "p.yaml", 2, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTree(t, tc.scenario, tc.profile)
			_, err := Library{}.Load(path, "", known)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FileError", err, err)
			}
			if filepath.Base(fe.File) != tc.wantFile {
				t.Errorf("file = %s, want %s", fe.File, tc.wantFile)
			}
			if fe.Line != tc.wantLine {
				t.Errorf("line = %d, want %d (%v)", fe.Line, tc.wantLine, err)
			}
			if tc.wantField != "" && fe.Field != tc.wantField {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tc.wantField, err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestNameNotFound(t *testing.T) {
	_, err := Library{Embedded: scenarios.FS}.Load("no-such-scenario", "", known)
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no scenario named") {
		t.Fatalf("err = %v", err)
	}
}
