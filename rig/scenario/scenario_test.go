package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pathrig/rig/scenarios"
)

var known = []string{"transport", "broker-cert", "ingest-auth", "guardrails", "identity", "observability"}

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

const goodBundle = "name: b\nchecks: [transport]\n"

// writeTree writes a scenario folder with a profile and a bundle and returns the scenario path.
func writeTree(t *testing.T, scenario, profile string) string {
	t.Helper()
	return writeTreeBundle(t, scenario, profile, goodBundle)
}

// writeTreeBundle is writeTree with the bundle b.yaml given.
func writeTreeBundle(t *testing.T, scenario, profile, bundle string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"s.yaml":          scenario,
		"profiles/p.yaml": profile,
		"bundles/b.yaml":  bundle,
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
		name                      string
		scenario, profile, bundle string // bundle "" = goodBundle
		wantFile                  string
		wantLine                  int
		wantField                 string
		wantMsg                   string
	}{
		{"unknown scenario key", goodScenario + "devcie:\n  uid: x\n", goodProfile, "", "s.yaml", 4, "devcie", "unknown field"},
		{"unknown nested key", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  kind: emulated\n  ud: x\n", goodProfile, "", "s.yaml", 6, "device.ud", "unknown field"},
		{"wrong type", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  baud: fast\n", goodProfile, "", "s.yaml", 5, "device.baud", "wrong type"},
		{"wrong type duration", "name: s\nprofile: p\nbundles: [b]\nlimits:\n  probe_timeout: soon\n", goodProfile, "", "s.yaml", 5, "limits.probe_timeout", "soon"},
		{"bad uid", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  uid: nothex\n", goodProfile, "", "s.yaml", 5, "device.uid", "24 hex digits"},
		{"interval not whole ms", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  telemetry_interval: 1.5ms\n", goodProfile, "", "s.yaml", 5, "device.telemetry_interval", "not a whole number of milliseconds"},
		{"missing profile", "name: s\nbundles: [b]\n", goodProfile, "", "s.yaml", 0, "profile", "missing"},
		{"unknown check", goodScenario + "checks: [transport, nope]\n", goodProfile, "", "s.yaml", 4, "checks[1]", `unknown check "nope"`},
		{"profile unknown key", goodScenario, goodProfile + "  max_packet: 10\n", "", "p.yaml", 5, "broker.max_packet", "unknown field"},
		{"profile wrong type", goodScenario, goodProfile + "  max_packet_size: big\n", "", "p.yaml", 5, "broker.max_packet_size", "wrong type"},
		{"profile bad enum", goodScenario, "name: p\nbroker:\n  plaintext: true\n  anonymous: true\n  tls:\n    enabled: true\n    min_version: \"1.5\"\n", "", "p.yaml", 7, "broker.tls.min_version", `"1.5" is not one of`},
		{"profile no listener", goodScenario, "name: p\nbroker:\n  anonymous: true\n", "", "p.yaml", 3, "broker", "no listener"},
		{"bad firmware part", "name: s\nprofile: p\nbundles: [b]\ndevice:\n  firmware: 1.0.300\n", goodProfile, "", "s.yaml", 5, "device.firmware", "0..255"},
		{"tls field checked while tls is off", goodScenario, goodProfile + "  tls:\n    min_version: \"9.9\"\n", "", "p.yaml", 6, "broker.tls.min_version", `"9.9" is not one of`},
		{"missing profile file", "name: s\nprofile: nope\nbundles: [b]\n", goodProfile, "", "s.yaml", 2, "profile", `no profile named "nope"`},
		{"missing bundle file", "name: s\nprofile: p\nbundles: [b, gone]\n", goodProfile, "", "s.yaml", 3, "bundles[1]", `no bundle named "gone"`},
		{"profile syntax", goodScenario, "name: p\nbroker: [\n", "", "p.yaml", 2, "", ""},
		// Bounds: what the YAML library must never be handed, and files that are not definitions.
		{"alias bomb", goodScenario + aliasBomb(9), goodProfile, "", "s.yaml", 10, "checks[5][0]", "aliases expand the file beyond 100000 YAML nodes"},
		{"description over the size limit", goodScenario + "description: " + strings.Repeat("x", 1<<20) + "\n", goodProfile, "", "s.yaml", 0, "", "larger than the 256 KiB limit of a scenario, profile or bundle file"},
		{"nested too deep", goodScenario + "description: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", goodProfile, "", "s.yaml", 4, "", "nested more than 64 levels deep"},
		{"too many tokens", goodScenario + "checks: [" + strings.Repeat("transport, ", 10000) + "transport]\n", goodProfile, "", "s.yaml", 4, "", "more than 20000 YAML tokens"},
		{"tag on a list", "name: s\nprofile: p\nbundles: !foo\n", goodProfile, "", "s.yaml", 3, "bundles", "YAML tag !foo: rig files use no tags"},
		{"tag on an item", "name: s\nprofile: p\nbundles: [!foo b]\n", goodProfile, "", "s.yaml", 3, "bundles[0]", "YAML tag !foo"},
		{"profile is a device", "name: s\nprofile: /dev/zero\nbundles: [b]\n", goodProfile, "", "zero", 0, "", "/dev/zero: is a character device, not a regular file"},
		// Types: no silent conversion to an integer.
		{"string for an integer", goodScenario + "limits:\n  oversize_bytes: \"4096\"\n", goodProfile, "", "s.yaml", 5, "limits.oversize_bytes", `wrong type: want an integer, got the string "4096"`},
		{"fraction for an integer", goodScenario + "limits:\n  oversize_bytes: 2048.7\n", goodProfile, "", "s.yaml", 5, "limits.oversize_bytes", "want an integer, got 2048.7, which is not a whole number"},
		{"fraction reported as written", goodScenario + "limits:\n  oversize_bytes: 1.5\n", goodProfile, "", "s.yaml", 5, "limits.oversize_bytes", "got 1.5, which is not a whole number"},
		{"fraction for baud", goodScenario + "device:\n  baud: 115200.9\n", goodProfile, "", "s.yaml", 5, "device.baud", "got 115200.9"},
		{"string for a number", goodScenario + "faults:\n  - kind: network-loss\n    at: 1s\n    duration: 1s\n    loss: \"0.5\"\n", goodProfile, "", "s.yaml", 8, "faults[0].loss", `want a number, got the string "0.5"`},
		{"profile string for an integer", goodScenario, goodProfile + "  max_packet_size: \"4096\"\n", "", "p.yaml", 5, "broker.max_packet_size", "want an integer"},
		// One document, and what an empty file should hold.
		{"second document", goodScenario + "---\nname: other\n", goodProfile, "", "s.yaml", 4, "", "a second YAML document starts here: a rig file holds exactly one"},
		{"yaml directive", "%YAML 1.2\n---\n" + goodScenario, goodProfile, "", "s.yaml", 1, "", "YAML directive %YAML: rig files need none"},
		{"empty scenario", "", goodProfile, "", "s.yaml", 0, "", "the file is empty (or holds only comments): a scenario names at least name, profile (or targets) and bundles"},
		{"comments only", "# to do\n", goodProfile, "", "s.yaml", 0, "", "the file is empty"},
		{"empty profile", goodScenario, "\n", "", "p.yaml", 0, "", "a profile names at least name and a broker listener"},
		{"byte-order mark then a typo", "\ufeff" + goodScenario + "devcie: x\n", goodProfile, "", "s.yaml", 4, "devcie", "unknown field"},
		// The identity rules of a profile and the identity probe bounds of a scenario.
		{"client id policy", goodScenario, goodProfile + "  identity:\n    client_id: tied\n", "", "p.yaml", 6, "broker.identity.client_id", `"tied" is not one of free, bound`},
		{"lockout without attempts", goodScenario, goodProfile + "  identity:\n    lockout:\n      window: 30s\n", "", "p.yaml", 7, "broker.identity.lockout", "names no attempts"},
		{"lockout without window", goodScenario, goodProfile + "  identity:\n    lockout:\n      attempts: 5\n", "", "p.yaml", 7, "broker.identity.lockout", "names no window"},
		{"lockout attempts zero", goodScenario, goodProfile + "  identity:\n    lockout:\n      attempts: 0\n      window: 1s\n", "", "p.yaml", 7, "broker.identity.lockout.attempts", "0 is outside 1..1000"},
		{"lockout window too long", goodScenario, goodProfile + "  identity:\n    lockout:\n      attempts: 5\n      window: 48h\n", "", "p.yaml", 8, "broker.identity.lockout.window", "outside 100ms..24h0m0s"},
		{"will ACL without an ACL", goodScenario, goodProfile + "  identity:\n    will_acl: true\n", "", "p.yaml", 6, "broker.identity.will_acl", "there is no ACL to hold the will to"},
		{"wss without TLS", goodScenario, goodProfile + "  websocket:\n    enabled: true\n    tls: true\n", "", "p.yaml", 7, "broker.websocket.tls", "set broker.tls.enabled: true"},
		{"lockout attempts above the non-intrusive default", goodScenario + "identity:\n  lockout_attempts: 20\n", goodProfile, "", "s.yaml", 5, "identity.lockout_attempts", "set intrusive: true"},
		{"lockout attempts over the bound", goodScenario + "intrusive: true\nidentity:\n  lockout_attempts: 500\n", goodProfile, "", "s.yaml", 6, "identity.lockout_attempts", "500 is outside 1..50"},
		{"will wait too long", goodScenario + "identity:\n  will_wait: 2m\n", goodProfile, "", "s.yaml", 5, "identity.will_wait", "outside 50ms..30s"},
		// Bundles name their file, line and field.
		{"bundle names an unknown check", goodScenario, goodProfile, "name: b\nchecks: [transport, nope]\n", "b.yaml", 2, "checks[1]", `unknown check "nope"`},
		{"bundle with a tag", goodScenario, goodProfile, "name: b\nchecks: !!seq [transport]\n", "b.yaml", 2, "checks", "YAML tag !!seq"},
		{"empty bundle", goodScenario, goodProfile, "# none\n", "b.yaml", 0, "", "a bundle names name and checks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := tc.bundle
			if bundle == "" {
				bundle = goodBundle
			}
			path := writeTreeBundle(t, tc.scenario, tc.profile, bundle)
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

// aliasBomb returns a checks: list of levels anchors, each listing the previous one 9 times: 9^levels
// strings from a few hundred bytes.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("checks:\n  - &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < levels; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "  - &a%d [%s]\n", i, strings.Repeat(p+", ", 8)+p)
	}
	return b.String()
}

// The bounds hold in memory, not only in the verdict: none of these inputs may cost the rig more
// than a small multiple of the definition size limit.
func TestDecodeBoundedMemory(t *testing.T) {
	manyKeys := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "k%d: 1\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct{ name, data string }{
		{"alias bomb", goodScenario + aliasBomb(12)},
		{"merge-key bomb", "a0: &a0 {x: 1}\n" + "a1: &a1 {<<: [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]}\n"},
		{"flow nesting", strings.Repeat("[", 500000)},
		{"many keys", manyKeys(100000)},
		{"many documents", strings.Repeat("---\na: 1\n", 50000)},
		{"long list", "checks: [" + strings.Repeat("x,", 400000) + "x]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var sc Scenario
			_, err := decode("s.yaml", []byte(tc.data), &sc)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 256<<20 {
				t.Errorf("decoding %d bytes allocated %d MiB", len(tc.data), d>>20)
			}
		})
	}
}

// A leading UTF-8 byte-order mark (Windows editors) is accepted and stripped.
func TestByteOrderMarkAccepted(t *testing.T) {
	plan, err := Library{}.Load(writeTreeBundle(t, "\ufeff"+goodScenario, "\ufeff"+goodProfile, "\ufeff"+goodBundle), "", known)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Scenario.Name != "s" || plan.Profile.Name != "p" || plan.Bundles[0].Name != "b" {
		t.Errorf("names %q %q %q", plan.Scenario.Name, plan.Profile.Name, plan.Bundles[0].Name)
	}
}

// LoadBundle (rig run --bundle) places an unknown check on its line in the bundle file.
func TestLoadBundleUnknownCheck(t *testing.T) {
	path := writeTreeBundle(t, goodScenario, goodProfile, "name: b\nchecks:\n  - transport\n  - tls-deep\n")
	_, err := Library{}.LoadBundle(filepath.Join(filepath.Dir(path), "bundles", "b.yaml"), "", known)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a *FileError", err)
	}
	if filepath.Base(fe.File) != "b.yaml" || fe.Line != 4 || fe.Field != "checks[1]" || !strings.Contains(fe.Msg, `unknown check "tls-deep" (known: transport,`) {
		t.Errorf("got %v", err)
	}
}

// boom panics when decoded, like goccy/go-yaml did on a tag it did not know.
type boom struct{}

func (*boom) UnmarshalYAML([]byte) error { panic("boom") }

// A panic inside the YAML library becomes an error naming the file and the key it happened under.
func TestDecodePanicBecomesFileError(t *testing.T) {
	var v struct {
		Name string `yaml:"name"`
		Bad  boom   `yaml:"bad"`
	}
	_, err := DecodeStrict("f.yaml", []byte("name: x\nbad: 1\n"), &v)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a *FileError", err)
	}
	if fe.File != "f.yaml" || fe.Line != 2 || fe.Field != "bad" || !strings.Contains(fe.Msg, "the YAML library failed on this file (boom)") {
		t.Errorf("got %v", err)
	}
}

func TestNameNotFound(t *testing.T) {
	_, err := Library{Embedded: scenarios.FS}.Load("no-such-scenario", "", known)
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no scenario named") {
		t.Fatalf("err = %v", err)
	}
}
