package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pathrig/rig/rig/baseline"
	"github.com/pathrig/rig/rig/engine"
)

func keyPair(t *testing.T, dir string) (keyPath, pubPath string) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	px, _ := x509.MarshalPKIXPublicKey(pub)
	keyPath, pubPath = filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), 0o644)
	return keyPath, pubPath
}

// TestValidatedBaseline: a hardened run is marked (signed) as the validated baseline of the
// hardening-verify path; rig regress finds it by the path's name, reruns and exits 0, and exits 3
// for the regressed profile; a record whose signature no longer verifies, or whose run was
// rewritten, stops rig regress before anything runs (exit 5). Marking another run replaces the
// record and names the one it replaced.
func TestValidatedBaseline(t *testing.T) {
	dir := t.TempDir()
	recs := filepath.Join(dir, "baselines")
	key, pub := keyPair(t, dir)
	quiet := []string{"-q", "--log-level", "error"}
	base := filepath.Join(recs, "hardening-verify")
	step := func(name string, args []string, want int) {
		t.Helper()
		if got := execute(context.Background(), args); got != want {
			t.Fatalf("%s: rig %v exited %d, want %d", name, args, got, want)
		}
	}
	step("baseline run", append([]string{"run", "hardening-verify", "--out", base}, quiet...), exitOK)
	step("regress without a record", append([]string{"regress", "--dir", recs, "--path", "hardening-verify", "--out", filepath.Join(dir, "none")}, quiet...), exitUsage)
	step("mark", []string{"baseline", "mark", base, "-q", "--dir", recs, "--sign-key", key, "--by", "test"}, exitOK)
	rec, _, err := baseline.Read(recs, "hardening-verify") // the path defaults to the scenario's name
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run != "hardening-verify" || rec.Profile != "hardened" || rec.MarkedBy != "test" {
		t.Errorf("record %+v", rec)
	}
	step("show, signed", []string{"baseline", "show", "--dir", recs, "--pub-key", pub}, exitOK)

	same := filepath.Join(dir, "same")
	step("regress, unchanged", append([]string{"regress", "--dir", recs, "--path", "hardening-verify", "--pub-key", pub, "--out", same}, quiet...), exitOK)
	d, err := readDelta(filepath.Join(same, engine.DeltaDir))
	if err != nil {
		t.Fatal(err)
	}
	if d.Baseline.Path != base || d.Summary.Regressed != 0 || d.Summary.Drifted != 0 {
		t.Errorf("delta against %s: %+v, want the marked run, no regression, no drift (the renewed certificate is routine)", d.Baseline.Path, d.Summary)
	}
	step("regress, regressed profile", append([]string{"regress", "--dir", recs, "--path", "hardening-verify", "--profile", "regressed-plaintext", "--out", filepath.Join(dir, "regressed")}, quiet...), exitRegression)

	// A forged record: the signature no longer matches.
	p := baseline.File(recs, "hardening-verify")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte(`"marked_by": "test"`), []byte(`"marked_by": "someone"`), 1), 0o644)
	step("show, forged record", []string{"baseline", "show", "--dir", recs, "--pub-key", pub}, exitUnverified)
	refused := filepath.Join(dir, "refused")
	step("regress, forged record", append([]string{"regress", "--dir", recs, "--path", "hardening-verify", "--pub-key", pub, "--out", refused}, quiet...), exitUnverified)
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Errorf("a run folder was made although the baseline did not verify (stat: %v)", err)
	}
	os.WriteFile(p, b, 0o644)
	step("show, restored", []string{"baseline", "show", "--dir", recs, "--path", "hardening-verify", "--pub-key", pub}, exitOK)

	// The run replaced under the record's feet: same folder, another run.
	os.RemoveAll(base)
	step("another run in the marked folder", append([]string{"run", "hardening-verify", "--out", base}, quiet...), exitOK)
	step("show, run replaced", []string{"baseline", "show", "--dir", recs}, exitUnverified)
	step("regress, run replaced", append([]string{"regress", "--dir", recs, "--path", "hardening-verify", "--out", refused}, quiet...), exitUnverified)

	// Marking it (unsigned) makes it the baseline and names the record it replaced.
	step("mark again", []string{"baseline", "mark", base, "-q", "--dir", recs, "--path", "hardening-verify", "--note", "re-validated"}, exitOK)
	rec2, _, err := baseline.Read(recs, "hardening-verify")
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Replaces == nil || rec2.Replaces.ManifestSHA256 != rec.ManifestSHA256 || rec2.ManifestSHA256 == rec.ManifestSHA256 || rec2.Note != "re-validated" {
		t.Errorf("second record %+v replaces %+v", rec2, rec2.Replaces)
	}
	step("show, unsigned with a key", []string{"baseline", "show", "--dir", recs, "--pub-key", pub}, exitUnverified)
	step("show, unsigned", []string{"baseline", "show", "--dir", recs}, exitOK)
	step("mark a bad path name", []string{"baseline", "mark", base, "-q", "--dir", recs, "--path", "../escape"}, exitUsage)
	tampered := filepath.Join(dir, "tampered")
	step("tampered run", append([]string{"run", "hardening-verify", "--out", tampered}, quiet...), exitOK)
	os.WriteFile(filepath.Join(tampered, "junit.xml"), []byte("<x/>"), 0o644)
	step("mark a tampered run", []string{"baseline", "mark", tampered, "-q", "--dir", recs, "--path", "other"}, exitUnverified)
}

// TestCommittedBaseline: the reference run in reports/baselines is the validated baseline of the
// hardening-verify path (the record beside it verifies), and make regress's command passes on it.
func TestCommittedBaseline(t *testing.T) {
	recs := filepath.Join("..", "..", "..", "reports", "baselines")
	var out bytes.Buffer
	root := newRoot()
	root.SetArgs([]string{"baseline", "show", "--dir", recs, "--json"})
	root.SetOut(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("rig baseline show on the committed baselines: %v\n%s", err, out.String())
	}
	var shown []struct {
		Path   string `json:"path"`
		Usable bool   `json:"usable"`
	}
	if err := json.Unmarshal(out.Bytes(), &shown); err != nil || len(shown) != 1 || shown[0].Path != "hardening-verify" || !shown[0].Usable {
		t.Fatalf("committed baselines %s (%v): want hardening-verify, usable", out.String(), err)
	}
	run := filepath.Join(t.TempDir(), "verify")
	if got := execute(context.Background(), []string{"regress", "--dir", recs, "--path", "hardening-verify", "-q", "--log-level", "error", "--out", run}); got != exitOK {
		t.Errorf("rig regress against the committed baseline exited %d, want 0", got)
	}
}

// TestPDFCommand: rig pdf writes the leadership summary of a run as a PDF next to it, refuses to
// write over a file or into the run, refuses a tampered run (exit 5), and without a browser says
// how to install one (exit 4).
func TestPDFCommand(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "exposed")
	if got := execute(context.Background(), []string{"run", "audit-baseline", "-q", "--log-level", "error", "--out", run}); got != exitOK {
		t.Fatalf("run exited %d", got)
	}
	step := func(name string, args []string, want int) {
		t.Helper()
		if got := execute(context.Background(), args); got != want {
			t.Errorf("%s: rig %v exited %d, want %d", name, args, got, want)
		}
	}
	step("no browser there", []string{"pdf", run, "-q", "--browser", filepath.Join(dir, "no-chromium")}, exitRunError)
	step("into the run", []string{"pdf", run, "-q", "--out", filepath.Join(run, "summary.pdf")}, exitUsage)
	if _, err := exec.LookPath("chromium"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium); CI installs it")
	}
	step("print", []string{"pdf", run, "-q"}, exitOK)
	b, err := os.ReadFile(run + "-summary.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-")) || len(regexp.MustCompile(`/Type\s*/Page\b`).FindAll(b, -1)) == 0 {
		t.Errorf("%s-summary.pdf is not a PDF with a page (%d bytes)", run, len(b))
	}
	step("over an existing file", []string{"pdf", run, "-q"}, exitUsage)
	if got := execute(context.Background(), []string{"verify", run}); got != exitOK {
		t.Errorf("printing changed the run folder (verify exited %d)", got)
	}
	os.WriteFile(filepath.Join(run, "summary.md"), []byte("# Hardened path · 0 findings\n"), 0o644)
	step("a tampered run", []string{"pdf", run, "-q", "--out", filepath.Join(dir, "t.pdf")}, exitUnverified)
}
