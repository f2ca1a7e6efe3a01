package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/pathrig/rig/scenarios"
)

// labTemplate is the CI template for a lab of benches (docs/bench.md#a-lab-of-benches-on-ci-runners).
const labTemplate = "../../../deploy/ci/bench-lab.github-actions.yml"

// TestLabTemplate validates the lab's CI template: the YAML parses as a GitHub Actions workflow,
// the regress job runs on self-hosted runners labelled by bench with one job per bench at a time,
// uploads the run folder and fails on a regression; and every rig and make command its steps run
// exists — rig subcommands and flags against the cobra command tree, scenario names against the
// embedded scenarios, make targets and variables against the Makefile.
func TestLabTemplate(t *testing.T) {
	raw, err := os.ReadFile(labTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Name        string                 `yaml:"name"`
		On          map[string]any         `yaml:"on"`
		Permissions map[string]string      `yaml:"permissions"`
		Jobs        map[string]workflowJob `yaml:"jobs"`
	}
	if err := yaml.UnmarshalWithOptions(raw, &wf, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", labTemplate, err)
	}
	reg, ok := wf.Jobs["regress"]
	if !ok || len(wf.Jobs) == 0 {
		t.Fatalf("no regress job in %v", wf.Jobs)
	}
	labels := strings.Join(reg.runsOn(), " ")
	if !strings.Contains(labels, "self-hosted") || !strings.Contains(labels, "rig-bench") || !strings.Contains(labels, "${{ matrix.bench }}") {
		t.Errorf("regress runs-on %q: want self-hosted runners labelled rig-bench and by bench", labels)
	}
	if g, _ := reg.Concurrency["group"].(string); !strings.Contains(g, "matrix.bench") || reg.Concurrency["cancel-in-progress"] != false {
		t.Errorf("concurrency %v: a job must queue for its bench, not cancel the one holding it", reg.Concurrency)
	}
	if base := reg.Env["BASELINE"]; base == "" {
		t.Error("no BASELINE")
	} else if _, err := os.Stat(filepath.Join("../../..", base, "MANIFEST.sha256")); err != nil {
		t.Errorf("BASELINE %s is not a run folder of this repository: %v", base, err)
	}
	uploads, regressRun := 0, ""
	for _, s := range reg.Steps {
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			uploads++
			if p, _ := s.With["path"].(string); !strings.Contains(p, "env.OUT") || s.If == "" {
				t.Errorf("upload step path %q, if %q: want the run folder, always", p, s.If)
			}
		}
		if strings.Contains(s.Run, "rig run hardening-verify") {
			regressRun = s.Run
		}
	}
	if uploads != 1 {
		t.Errorf("%d upload-artifact steps in regress, want 1", uploads)
	}
	for _, want := range []string{"--bench", "--baseline", "--sign-key", "3)", "exit 3"} {
		if !strings.Contains(regressRun, want) {
			t.Errorf("the regress step lacks %q:\n%s", want, regressRun)
		}
	}

	makefile, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets, vars := makeTargets(string(makefile))
	var rigCmds, makeCmds int
	for name, job := range wf.Jobs {
		for i, s := range job.Steps {
			for _, words := range shellCommands(s.Run) {
				where := name + " step " + s.Name
				if s.Name == "" {
					where = name + " step " + string(rune('1'+i))
				}
				switch words[0] {
				case "rig":
					rigCmds++
					if err := checkRigCommand(words[1:]); err != nil {
						t.Errorf("%s: %s: %v", where, strings.Join(words, " "), err)
					}
				case "make":
					makeCmds++
					for _, w := range words[1:] {
						if k, _, ok := strings.Cut(w, "="); ok {
							if !vars[k] {
								t.Errorf("%s: make variable %s is not in the Makefile", where, k)
							}
						} else if !strings.HasPrefix(w, "-") && !targets[w] {
							t.Errorf("%s: make target %s is not in the Makefile", where, w)
						}
					}
				}
			}
		}
	}
	if rigCmds < 5 || makeCmds < 1 {
		t.Errorf("found %d rig and %d make commands: the command parser missed some", rigCmds, makeCmds)
	}
}

// TestLabCommandChecker: the checker refuses what does not exist.
func TestLabCommandChecker(t *testing.T) {
	for _, tc := range []struct {
		cmd string
		ok  bool
	}{
		{`rig run hardening-verify --bench "$BENCH_FILE" --baseline "$BASELINE" --out "$OUT" --log-format json`, true},
		{`rig bench check --bench /etc/rig/bench.yaml --json`, true},
		{`rig verify "$OUT" --pub-key k.pem`, true},
		{`rig version --json`, true},
		{`rig -v run audit-baseline`, true},
		{`rig run hardening-verify --benches /etc/rig/bench.yaml`, false},
		{`rig run no-such-scenario`, false},
		{`rig bench`, false},
		{`rig bench calibrate`, false},
		{`rig calibrate`, false},
	} {
		words := shellCommands(tc.cmd)
		if len(words) != 1 {
			t.Fatalf("%s: parsed as %v", tc.cmd, words)
		}
		err := checkRigCommand(words[0][1:])
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.cmd, err, tc.ok)
		}
	}
	got := shellCommands("mkdir -p x\nrig bench check --json > \"$CHECK\" || { cat \"$CHECK\"; exit 1; }\nfoo && make \\\n  dist DIST_ARCHES=\"arm64 amd64\"")
	want := [][]string{{"mkdir", "-p", "x"}, {"rig", "bench", "check", "--json", ">", "$CHECK"}, {"cat", "$CHECK"}, {"exit", "1"}, {"foo"}, {"make", "dist", "DIST_ARCHES=arm64 amd64"}}
	if len(got) != len(want) {
		t.Fatalf("shellCommands = %q, want %q", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("command %d = %q, want %q", i, got[i], want[i])
		}
	}
}

type workflowJob struct {
	Name        string            `yaml:"name"`
	Needs       any               `yaml:"needs"`
	If          string            `yaml:"if"`
	RunsOn      any               `yaml:"runs-on"`
	Strategy    map[string]any    `yaml:"strategy"`
	Concurrency map[string]any    `yaml:"concurrency"`
	Timeout     int               `yaml:"timeout-minutes"`
	Env         map[string]string `yaml:"env"`
	Steps       []workflowStep    `yaml:"steps"`
}

func (j workflowJob) runsOn() []string {
	switch v := j.RunsOn.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

type workflowStep struct {
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
	Run  string            `yaml:"run"`
}

// shellCommands splits a step's script into simple commands (words, quotes removed): lines joined
// at a trailing backslash, then cut at ; && || | { } and newlines. Enough for the commands a
// workflow names; expansions stay as written.
func shellCommands(script string) [][]string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out [][]string
	var words []string
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			out = append(out, words)
		}
		words = nil
	}
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(script[i+1:], c)
			if j < 0 {
				j = len(script) - i - 1
			}
			word.WriteString(script[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '$' && strings.HasPrefix(script[i:], "${{"):
			j := strings.Index(script[i:], "}}")
			if j < 0 {
				j = len(script) - i - 2
			}
			word.WriteString(script[i : i+j+2])
			inWord = true
			i += j + 1
		case c == '\n' || c == ';' || c == '{' || c == '}' || c == '|' || (c == '&' && i+1 < len(script) && script[i+1] == '&'):
			if (c == '|' || c == '&') && i+1 < len(script) && script[i+1] == c {
				i++
			}
			flushCmd()
		case c == ' ' || c == '\t':
			flushWord()
		case c == '#' && !inWord:
			for i < len(script) && script[i] != '\n' {
				i++
			}
			flushCmd()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flushCmd()
	return out
}

// checkRigCommand resolves args (after "rig") in the cobra command tree: the subcommands must
// exist and be runnable, every flag must be one the command takes, and `rig run NAME` must name
// an embedded scenario (or a path).
func checkRigCommand(args []string) error {
	var clean []string
	for _, a := range args {
		if a == ">" || a == "<" || strings.HasPrefix(a, ">") || strings.HasPrefix(a, "2>") {
			break // a redirection ends the command's own words
		}
		clean = append(clean, a)
	}
	root := newRoot()
	cmd, rest, err := root.Find(clean)
	if err != nil {
		return err
	}
	if cmd == root || !cmd.Runnable() {
		return fmt.Errorf("%q is not a runnable rig command", strings.Join(clean, " "))
	}
	positional, err := flagsExist(cmd, rest)
	if err != nil {
		return err
	}
	if cmd.Name() == "run" {
		if len(positional) != 1 {
			return fmt.Errorf("rig run takes one scenario, got %q", positional)
		}
		name := positional[0]
		if !strings.ContainsAny(name, "/$.") {
			if _, err := fs.Stat(scenarios.FS, name+".yaml"); err != nil {
				return fmt.Errorf("rig run %s: no embedded scenario of that name", name)
			}
		}
	}
	return nil
}

// flagsExist checks each flag of args against cmd and returns the positional words.
func flagsExist(cmd *cobra.Command, args []string) ([]string, error) {
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		fl := cmd.Flags().Lookup(name)
		if !strings.HasPrefix(a, "--") && len(name) == 1 {
			fl = cmd.Flags().ShorthandLookup(name)
		}
		if fl == nil {
			fl = cmd.InheritedFlags().Lookup(name)
		}
		if fl == nil {
			return nil, fmt.Errorf("rig %s has no flag %s", cmd.Name(), a)
		}
		if fl.Value.Type() != "bool" && !hasValue {
			i++ // the flag's value
		}
	}
	return positional, nil
}

var makeRule = regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)\s*:([^=]|$)`)
var makeVar = regexp.MustCompile(`(?m)^([A-Z_][A-Z0-9_]*)\s*[?:+]?=`)

// makeTargets returns the targets and the variables a Makefile defines.
func makeTargets(mk string) (targets, vars map[string]bool) {
	targets, vars = map[string]bool{}, map[string]bool{}
	for _, m := range makeRule.FindAllStringSubmatch(mk, -1) {
		targets[m[1]] = true
	}
	for _, m := range makeVar.FindAllStringSubmatch(mk, -1) {
		vars[m[1]] = true
	}
	return targets, vars
}
