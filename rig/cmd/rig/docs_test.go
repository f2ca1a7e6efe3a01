package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/checks"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated parts of the docs (the controls table of docs/controls.md)")

// controlsTableHeader starts the generated table in docs/controls.md; the table ends at the first line
// that is not a table row.
const controlsTableHeader = "| Control | Check | Severity |"

// TestControlsTableInDocs: the controls table of docs/controls.md is exactly `rig checks --markdown`.
// `go test ./rig/cmd/rig -run TestControlsTableInDocs -update` regenerates it after a catalog edit.
func TestControlsTableInDocs(t *testing.T) {
	cat, err := checks.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	want := catalogMarkdown(cat)
	// The command prints the same table.
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"checks", "--markdown"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Fatal("rig checks --markdown differs from catalogMarkdown")
	}

	path := filepath.Join("..", "..", "..", "docs", "controls.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(doc), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, controlsTableHeader) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("docs/controls.md has no controls table (a line starting %q)", controlsTableHeader)
	}
	end := start
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	got := strings.Join(lines[start:end], "")
	if got == want {
		return
	}
	if *updateDocs {
		updated := strings.Join(lines[:start], "") + want + strings.Join(lines[end:], "")
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the controls table in docs/controls.md is not `rig checks --markdown` (go test ./rig/cmd/rig -run TestControlsTableInDocs -update regenerates it):\n%s", firstLineDiff(got, want))
}

func firstLineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "docs/controls.md: " + a + "\nwant:             " + b
		}
	}
	return ""
}
