package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blakesmith/ar"

	"github.com/pathrig/rig/rig/manifest"
)

// fakeRigVersion is what this test binary prints when it stands in for rig (TestMain).
var fakeRigVersion = rigVersion{Version: "fcc8688-dirty", Commit: "fcc868805a0e6b2a7ea3d2f1e0e7b3c2a1d0f9e8", Date: "2026-12-06T23:56:24+00:00", Go: runtime.Version()}

// TestMain lets the test binary stand in for rig in a fake release: with DIST_FAKE_RIG=1 it
// answers `version --json` as rig does. It is a Go binary with build information, so its SBOM is
// a real one.
func TestMain(m *testing.M) {
	if os.Getenv("DIST_FAKE_RIG") == "1" {
		if len(os.Args) == 3 && os.Args[1] == "version" && os.Args[2] == "--json" {
			json.NewEncoder(os.Stdout).Encode(fakeRigVersion)
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fake rig: only `version --json`")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func TestDebVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    rigVersion
		want string
		err  string
	}{
		{"release tag", rigVersion{Version: "v1.2.3"}, "1.2.3", ""},
		{"release candidate sorts before the release", rigVersion{Version: "v1.2.3-rc1"}, "1.2.3~rc1", ""},
		{"tag built from a modified tree", rigVersion{Version: "v1.2.3-dirty"}, "1.2.3+dirty", ""},
		{"snapshot: git describe --always gives a hash", rigVersion{Version: "1f0ed3a", Commit: "1f0ed3ad3c9ff283bf25e5ccfebdb6689cee52d0", Date: "2026-12-06T23:47:04+01:00"}, "0.0.0~git20261206224704.1f0ed3ad3c9f", ""},
		{"snapshot from a modified tree", rigVersion{Version: "1f0ed3a-dirty", Commit: "1f0ed3ad3c9ff283bf25e5ccfebdb6689cee52d0", Date: "2026-12-06T23:47:04Z"}, "0.0.0~git20261206234704.1f0ed3ad3c9f+dirty", ""},
		{"a dev build has no commit", rigVersion{Version: "dev", Commit: "unknown", Date: "unknown"}, "", "no git revision"},
		{"a commit without a date", rigVersion{Version: "1f0ed3a", Commit: "1f0ed3ad3c9f", Date: "unknown"}, "", "date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := debVersion(tc.v)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("debVersion = %q, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("debVersion = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// Snapshots sort by commit time, and any snapshot before the first release.
	a, _ := debVersion(rigVersion{Version: "aaaaaaa", Commit: "aaaaaaaaaaaa", Date: "2026-01-02T00:00:00Z"})
	b, _ := debVersion(rigVersion{Version: "0000000", Commit: "000000000000", Date: "2026-01-03T00:00:00Z"})
	if !(a < b) || !strings.HasPrefix(b, "0.0.0~") {
		t.Errorf("snapshots %q and %q do not sort by date", a, b)
	}
}

// TestSBOMListsEveryModule: the SBOM of a Go binary (this test binary) lists every module its
// build information names, with version and purl; one with a module taken out is refused.
func TestSBOMListsEveryModule(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dist.cdx.json")
	if err := writeSBOM(exe, out, "1.0.0", time.Unix(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	for _, want := range []string{`"bomFormat": "CycloneDX"`, `"specVersion": "1.6"`, "pkg:golang/github.com/goreleaser/nfpm/v2@v2.48.0", "pkg:golang/std@"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	cut := bytes.ReplaceAll(b, []byte("github.com/goreleaser/nfpm/v2"), []byte("github.com/goreleaser/nfpm-elsewhere/v2"))
	os.WriteFile(out, cut, 0o644)
	if err := checkSBOM(exe, out, nil); err == nil || !strings.Contains(err.Error(), "github.com/goreleaser/nfpm/v2@v2.48.0") {
		t.Errorf("an SBOM without nfpm passed the check: %v", err)
	}
}

// TestRelease builds a release for this machine's architecture from stand-in binaries (this test
// binary) and reads the package back: its files, the unit and the rule as the issue wants them,
// the conffiles, the maintainer scripts, the SBOMs and the signed checksums.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a package (go list of the smoketest, three SBOMs)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DIST_FAKE_RIG", "1")
	dir := t.TempDir()
	arch := runtime.GOARCH
	raw, _ := os.ReadFile(exe)
	for _, b := range []string{"rig-linux-" + arch, "gateway-linux-" + arch, "smoketest-linux-" + arch + ".test"} {
		if err := os.WriteFile(filepath.Join(dir, b), raw, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyPath := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)

	var stdout, stderr bytes.Buffer
	if code := run([]string{"-dir", dir, "-arches", arch, "-root", "../..", "-sign-key", keyPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("dist exited %d: %s", code, stderr.String())
	}
	version := "0.0.0~git20261206235624.fcc868805a0e+dirty"
	deb := filepath.Join(dir, "rig_"+version+"_"+arch+".deb")
	pkg := readDeb(t, deb)

	for _, f := range []string{"./usr/bin/rig", "./usr/bin/gateway", "./usr/libexec/rig/smoketest", "./usr/lib/systemd/system/gateway.service",
		"./usr/lib/udev/rules.d/99-rig-stm32.rules", "./etc/rig/gateway.env", "./etc/rig/bench.yaml",
		"./usr/share/doc/rig/sbom/rig.cdx.json", "./usr/share/doc/rig/sbom/gateway.cdx.json", "./usr/share/doc/rig/sbom/smoketest.cdx.json",
		"./usr/share/doc/rig/README.md", "./usr/share/doc/rig/RIG.md", "./usr/share/doc/rig/docs/bench.md", "./usr/share/doc/rig/docs/scenario-format.md"} {
		if _, ok := pkg.data[f]; !ok {
			t.Errorf("package lacks %s (has %v)", f, keys(pkg.data))
		}
	}
	for _, f := range []string{"./usr/bin/rig", "./usr/bin/gateway", "./usr/libexec/rig/smoketest"} {
		if m := pkg.modes[f]; m&0o111 == 0 {
			t.Errorf("%s mode %v is not executable", f, m)
		}
	}
	if m := pkg.modes["./etc/rig/"]; m != 0o755 {
		t.Errorf("/etc/rig mode %v, want 0755 (the operator reads bench.yaml)", m)
	}
	unit := string(pkg.data["./usr/lib/systemd/system/gateway.service"])
	for _, want := range []string{"\nStateDirectory=rig-gateway\n", "--spool %S/rig-gateway/spool.db", "--qos 1", "\nUser=" + serviceUser + "\n", "\nProtectSystem=strict\n", "\nDevicePolicy=closed\n", "\nNoNewPrivileges=yes\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("packaged unit lacks %q", want)
		}
	}
	rule := string(pkg.data["./usr/lib/udev/rules.d/99-rig-stm32.rules"])
	for _, line := range strings.Split(rule, "\n") {
		if strings.HasPrefix(line, "SUBSYSTEM==\"tty\"") && (!strings.Contains(line, `TAG+="systemd"`) || !strings.Contains(line, `ENV{SYSTEMD_WANTS}+="gateway.service"`)) {
			t.Errorf("active tty rule without the systemd tag and SYSTEMD_WANTS: %s", line)
		}
	}
	if !strings.Contains(rule, `ENV{SYSTEMD_WANTS}`) {
		t.Error("udev rule lacks ENV{SYSTEMD_WANTS}")
	}
	if got := strings.Fields(string(pkg.control["./conffiles"])); !slices.Equal(got, []string{"/etc/rig/bench.yaml", "/etc/rig/gateway.env"}) {
		t.Errorf("conffiles = %v", got)
	}
	if c := string(pkg.control["./control"]); !strings.Contains(c, "Version: "+version+"\n") || !strings.Contains(c, "Architecture: "+arch+"\n") || !strings.Contains(c, "Depends: adduser") {
		t.Errorf("control:\n%s", c)
	}
	if s := string(pkg.control["./postinst"]); !strings.Contains(s, "adduser --system") || !strings.Contains(s, "udevadm control --reload-rules") {
		t.Errorf("postinst does not create the service user or reload udev:\n%s", s)
	}
	for _, s := range []string{"./postinst", "./prerm", "./postrm"} {
		if pkg.controlModes[s]&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
	for _, b := range []string{"rig", "gateway", "smoketest"} {
		sb := pkg.data["./usr/share/doc/rig/sbom/"+b+".cdx.json"]
		if !bytes.Contains(sb, []byte("pkg:golang/github.com/goreleaser/nfpm/v2@v2.48.0")) && b != "smoketest" {
			t.Errorf("the packaged SBOM of %s does not list the modules of its binary", b)
		}
	}
	// The smoketest stand-in is a test binary of this module too, but its SBOM comes from go list of
	// the real smoketest package: periph and serial are in it.
	if sb := pkg.data["./usr/share/doc/rig/sbom/smoketest.cdx.json"]; !bytes.Contains(sb, []byte("periph.io/x/conn/v3")) || !bytes.Contains(sb, []byte("go.bug.st/serial")) {
		t.Errorf("the smoketest SBOM lacks what the smoketest links:\n%s", sb)
	}
	rep, err := manifest.VerifySums(filepath.Join(dir, sumsFile), pub)
	if err != nil || !rep.OK() || rep.Signature != manifest.SigValid || rep.Files != 7 {
		t.Errorf("SHA256SUMS: %v %+v", err, rep)
	}
	if !strings.Contains(stdout.String(), "ed25519") {
		t.Errorf("summary does not mention the signature:\n%s", stdout.String())
	}

	// Without a key: no signature, and a note saying so.
	stdout.Reset()
	if code := run([]string{"-dir", dir, "-arches", arch, "-root", "../.."}, &stdout, &stderr); code != 0 {
		t.Fatalf("dist exited %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, sumsFile+manifest.SigSuffix)); !os.IsNotExist(err) {
		t.Errorf("unsigned release kept a signature: %v", err)
	}
	if !strings.Contains(stdout.String(), "note: SHA256SUMS is not signed") {
		t.Errorf("no note about the missing signature:\n%s", stdout.String())
	}
}

// TestReleaseRefusals: usage errors exit 2 before anything is written.
func TestReleaseRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no architecture", []string{"-dir", dir, "-arches", " "}},
		{"host architecture missing", []string{"-dir", dir, "-arches", "riscv64"}},
		{"unreadable key", []string{"-dir", dir, "-arches", runtime.GOARCH, "-sign-key", filepath.Join(dir, "nope.pem")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			if code := run(tc.args, &o, &e); code != 2 {
				t.Errorf("exit %d, want 2 (%s)", code, e.String())
			}
		})
	}
}

// debFile is a package read back: data and control members by path.
type debFile struct {
	data, control       map[string][]byte
	modes, controlModes map[string]os.FileMode
}

func readDeb(t *testing.T, path string) debFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := debFile{data: map[string][]byte{}, control: map[string][]byte{}, modes: map[string]os.FileMode{}, controlModes: map[string]os.FileMode{}}
	r := ar.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		name := strings.TrimSuffix(h.Name, "/")
		var files map[string][]byte
		var modes map[string]os.FileMode
		switch name {
		case "debian-binary":
			if string(body) != "2.0\n" {
				t.Errorf("debian-binary = %q", body)
			}
			continue
		case "control.tar.gz":
			files, modes = d.control, d.controlModes
		case "data.tar.gz":
			files, modes = d.data, d.modes
		default:
			t.Fatalf("unexpected member %q in %s", name, path)
		}
		gz, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		for {
			th, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			files[th.Name] = b
			modes[th.Name] = os.FileMode(th.Mode).Perm()
		}
	}
	return d
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
