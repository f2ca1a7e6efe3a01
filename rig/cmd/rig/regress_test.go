package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/engine"
	"github.com/pathrig/rig/rig/manifest"
	"github.com/pathrig/rig/rig/record"
)

// TestRegressionGate: the hardened run is the baseline; a rerun on a profile that re-enables the
// plaintext listener exits 3, and its delta shows exactly TRANSPORT-PLAINTEXT as regressed.
// Rerunning the hardened profile against the committed reference baseline exits 0.
func TestRegressionGate(t *testing.T) {
	dir := t.TempDir()
	base, reg, same := filepath.Join(dir, "base"), filepath.Join(dir, "regressed"), filepath.Join(dir, "same")
	quiet := []string{"-q", "--log-level", "error"}
	if got := execute(context.Background(), append([]string{"run", "hardening-verify", "--out", base}, quiet...)); got != exitOK {
		t.Fatalf("hardened baseline exited %d", got)
	}
	if got := execute(context.Background(), append([]string{"run", "hardening-verify", "--profile", "regressed-plaintext", "--baseline", base, "--out", reg}, quiet...)); got != exitRegression {
		t.Fatalf("regressed rerun exited %d, want %d", got, exitRegression)
	}
	d, err := readDelta(filepath.Join(reg, engine.DeltaDir))
	if err != nil {
		t.Fatal(err)
	}
	var regressed []string
	for _, r := range d.Rows {
		if r.Class == delta.Regressed {
			regressed = append(regressed, r.Control)
			if r.Before == nil || r.After == nil || len(r.Before.Evidence) == 0 || len(r.After.Evidence) == 0 {
				t.Errorf("%s: both sides' evidence must be referenced: %+v %+v", r.Control, r.Before, r.After)
			}
		}
	}
	if want := []string{"TRANSPORT-PLAINTEXT"}; !reflect.DeepEqual(regressed, want) || d.Summary.Regressed != 1 {
		t.Errorf("regressed = %v (summary %d), want exactly %v", regressed, d.Summary.Regressed, want)
	}
	for _, f := range []string{"delta/delta.json", "delta/delta.md", "delta/delta.html", "findings.sarif", "MANIFEST.sha256"} {
		if _, err := os.Stat(filepath.Join(reg, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if rep, err := manifest.Verify(reg, nil); err != nil || !rep.OK() {
		t.Errorf("the regressed run's manifest does not cover its delta: %v %v", err, rep)
	}

	committed := filepath.Join("..", "..", "..", "reports", "baselines", "hardening-verify")
	if got := execute(context.Background(), []string{"verify", committed}); got != exitOK {
		t.Fatalf("the committed baseline does not match its manifest (exit %d)", got)
	}
	if got := execute(context.Background(), append([]string{"run", "hardening-verify", "--baseline", committed, "--out", same}, quiet...)); got != exitOK {
		t.Errorf("hardened rerun against the committed baseline exited %d, want 0", got)
	}
}

func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	keyPath, pubPath := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	px, _ := x509.MarshalPKIXPublicKey(pub)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), 0o644)
	if got := execute(context.Background(), []string{"run", "audit-baseline", "-q", "--log-level", "error", "--format", "summary,sarif", "--sign-key", keyPath, "--out", run}); got != exitOK {
		t.Fatalf("signed run exited %d", got)
	}
	for f, want := range map[string]bool{"summary.md": true, "findings.sarif": true, "report.html": false, "junit.xml": false, "MANIFEST.sha256.sig": true} {
		if _, err := os.Stat(filepath.Join(run, f)); (err == nil) != want {
			t.Errorf("--format summary,sarif: %s present = %v, want %v", f, err == nil, want)
		}
	}
	step := func(name string, args []string, want int) {
		t.Helper()
		if got := execute(context.Background(), args); got != want {
			t.Errorf("%s: rig %v exited %d, want %d", name, args, got, want)
		}
	}
	step("intact", []string{"verify", run}, exitOK)
	step("intact, signed", []string{"verify", run, "--pub-key", pubPath}, exitOK)
	step("private key as public key", []string{"verify", run, "--pub-key", keyPath}, exitUsage)
	step("no manifest", []string{"verify", dir}, exitUsage)
	p := filepath.Join(run, "summary.md")
	b, _ := os.ReadFile(p)
	b[2] ^= 0x20
	os.WriteFile(p, b, 0o644)
	step("one byte changed", []string{"verify", run}, exitFindings)
	b[2] ^= 0x20
	os.WriteFile(p, b, 0o644)
	step("restored", []string{"verify", run, "--pub-key", pubPath}, exitOK)
	os.WriteFile(filepath.Join(run, "evidence", "note.txt"), []byte("added"), 0o644)
	step("file added", []string{"verify", run}, exitFindings)
	os.Remove(filepath.Join(run, "evidence", "note.txt"))
	os.Mkdir(filepath.Join(run, "evidence", "EMPTY"), 0o755)
	step("empty directory added", []string{"verify", run}, exitFindings)
	os.Remove(filepath.Join(run, "evidence", "EMPTY"))
	mpath := filepath.Join(run, manifest.File)
	m, _ := os.ReadFile(mpath)
	first, _, _ := strings.Cut(string(m), "\n")
	os.WriteFile(mpath, append(append([]byte(nil), m...), first+"\n"...), 0o644)
	step("duplicated manifest line", []string{"verify", run}, exitFindings)
	os.WriteFile(mpath, m, 0o644)
	step("restored again", []string{"verify", run}, exitOK)
	os.Remove(filepath.Join(run, "findings.sarif"))
	step("file deleted", []string{"verify", run}, exitFindings)
	step("bad format", []string{"run", "audit-baseline", "--format", "pdf", "--out", filepath.Join(dir, "x")}, exitUsage)
	step("bad baseline", []string{"run", "audit-baseline", "--baseline", dir, "--out", filepath.Join(dir, "y")}, exitUsage)
	step("bad sign key", []string{"run", "audit-baseline", "--sign-key", pubPath, "--out", filepath.Join(dir, "z")}, exitUsage)
}

func TestBundleFlagAndDeltaManifest(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	quiet := []string{"-q", "--log-level", "error"}
	if got := execute(context.Background(), append([]string{"run", "audit-baseline", "--bundle", "hardening-verification", "--out", a}, quiet...)); got != exitOK {
		t.Fatalf("--bundle run exited %d", got)
	}
	run, err := record.ReadRun(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"transport", "guardrails", "ingest-auth"}; !reflect.DeepEqual(run.Checks, want) || !reflect.DeepEqual(run.Bundles, []string{"hardening-verification"}) {
		t.Errorf("--bundle hardening-verification: bundles %v checks %v, want checks %v", run.Bundles, run.Checks, want)
	}
	if got := execute(context.Background(), append([]string{"run", "audit-baseline", "--bundle", "no-such", "--out", b}, quiet...)); got != exitUsage {
		t.Errorf("unknown bundle exited %d, want %d", got, exitUsage)
	}
	del := filepath.Join(dir, "delta")
	if got := execute(context.Background(), []string{"delta", a, a, "-q", "--out", del}); got != exitOK {
		t.Fatalf("delta exited %d", got)
	}
	for _, f := range []string{"delta.json", "delta.md", "delta.html", "MANIFEST.sha256"} {
		if _, err := os.Stat(filepath.Join(del, f)); err != nil {
			t.Error(err)
		}
	}
	if got := execute(context.Background(), []string{"verify", del}); got != exitOK {
		t.Errorf("verify of a delta folder exited %d", got)
	}
}
