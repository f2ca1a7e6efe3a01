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

var updateDocs = flag.Bool("update", false, "rewrite the generated parts of RIG.md (the controls table of §4)")

// controlsTableHeader starts the generated table in RIG.md §4; the table ends at the first line
// that is not a table row.
const controlsTableHeader = "| Control | Check | Severity |"

// TestControlsTableInRIG: the controls table of RIG.md §4 is exactly `rig checks --markdown`.
// `go test ./rig/cmd/rig -run TestControlsTableInRIG -update` regenerates it after a catalog edit.
func TestControlsTableInRIG(t *testing.T) {
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

	path := filepath.Join("..", "..", "..", "RIG.md")
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
		t.Fatalf("RIG.md has no controls table (a line starting %q)", controlsTableHeader)
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
	t.Errorf("the controls table in RIG.md §4 is not `rig checks --markdown` (go test ./rig/cmd/rig -run TestControlsTableInRIG -update regenerates it):\n%s", firstLineDiff(got, want))
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
			return "RIG.md: " + a + "\nwant:   " + b
		}
	}
	return ""
}
