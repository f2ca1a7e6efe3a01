package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository root seen from this package's folder.
var repoRoot = filepath.Join("..", "..", "..")

// mdLink matches an inline Markdown link or image: [text](target) or [text](target "title").
var mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// urlScheme starts a link to another site (https:, mailto:, …), which the test does not follow.
var urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// htmlAnchor matches an explicit anchor such as the controls table's <a id="control-…"></a>.
var htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)

// docPages lists the pages whose links TestMarkdownLinks follows: README.md, RIG.md and docs/*.md.
func docPages(t *testing.T) []string {
	t.Helper()
	pages := []string{"README.md", "RIG.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(more) == 0 {
		t.Fatalf("no docs/*.md under %s", repoRoot)
	}
	for _, m := range more {
		rel, _ := filepath.Rel(repoRoot, m)
		pages = append(pages, filepath.ToSlash(rel))
	}
	return pages
}

// proseLines returns the lines of a Markdown file outside fenced code blocks, with inline code
// spans blanked, so that links and headings written as examples are not taken for real ones.
// Line numbers are kept (a blanked line stays in place).
func proseLines(doc string) []string {
	lines := strings.Split(doc, "\n")
	inFence := false
	fence := ""
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if !inFence && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			inFence, fence = true, trimmed[:3]
			lines[i] = ""
			continue
		}
		if inFence {
			if strings.HasPrefix(trimmed, fence) {
				inFence = false
			}
			lines[i] = ""
			continue
		}
		lines[i] = blankCodeSpans(l)
	}
	return lines
}

// blankCodeSpans replaces `code` spans of one line by spaces of the same length.
func blankCodeSpans(l string) string {
	var b strings.Builder
	in := false
	for _, r := range l {
		switch {
		case r == '`':
			in = !in
			b.WriteRune(' ')
		case in:
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headingText renders a heading's Markdown to the text GitHub slugs: links become their text,
// code spans their content.
var inlineLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// githubSlug is the anchor GitHub gives a heading: lower case, every character that is not a
// letter, digit, space, hyphen or underscore dropped, spaces turned into hyphens. Repeated
// headings get -1, -2, … (see anchors).
func githubSlug(heading string) string {
	t := inlineLink.ReplaceAllString(heading, "$1")
	t = strings.ReplaceAll(t, "`", "")
	t = strings.ToLower(strings.TrimSpace(t))
	var b strings.Builder
	for _, r := range t {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns every anchor of a Markdown file: its headings' slugs (with GitHub's suffixes
// for repeats) and its explicit <a id> / <a name> anchors.
func anchors(doc string) map[string]bool {
	set := map[string]bool{}
	seen := map[string]int{}
	raw := strings.Split(doc, "\n")
	for i, l := range proseLines(doc) {
		if strings.HasPrefix(l, "#") {
			level := len(l) - len(strings.TrimLeft(l, "#"))
			if level <= 6 && len(l) > level && l[level] == ' ' {
				// slug the raw heading: code spans count with their content
				s := githubSlug(raw[i][level+1:])
				n := seen[s]
				seen[s] = n + 1
				if n > 0 {
					s = fmt.Sprintf("%s-%d", s, n)
				}
				set[s] = true
			}
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(raw[i], -1) {
			set[m[1]] = true
		}
	}
	return set
}

// TestMarkdownLinks: every relative link in README.md, RIG.md and docs/*.md names a file or
// folder that exists and, for #anchor, a heading or <a id> of that Markdown file (GitHub's
// anchor rules). Links to other sites are not followed.
func TestMarkdownLinks(t *testing.T) {
	cache := map[string]map[string]bool{}
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := cache[path]; ok {
			return a, nil
		}
		doc, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := anchors(string(doc))
		cache[path] = a
		return a, nil
	}
	checked := 0
	for _, page := range docPages(t) {
		path := filepath.Join(repoRoot, filepath.FromSlash(page))
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		for n, l := range proseLines(string(doc)) {
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if urlScheme.MatchString(target) {
					continue // https:, mailto:, …
				}
				checked++
				file, anchor, _ := strings.Cut(target, "#")
				dest := path
				if file != "" {
					dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
				}
				where := fmt.Sprintf("%s:%d: link %q", page, n+1, target)
				info, err := os.Stat(dest)
				if err != nil {
					t.Errorf("%s: no such file or folder (%s)", where, dest)
					continue
				}
				if anchor == "" {
					continue
				}
				if info.IsDir() || !strings.HasSuffix(dest, ".md") {
					t.Errorf("%s: an anchor into %s, which is not a Markdown file", where, file)
					continue
				}
				a, err := anchorsOf(dest)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if !a[anchor] {
					t.Errorf("%s: %s has no heading or <a id> with the anchor #%s", where, filepath.Base(dest), anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the pages or the link pattern are wrong")
	}
	t.Logf("%d relative links checked", checked)
}

// TestGitHubSlug pins the anchor rules the link test relies on.
func TestGitHubSlug(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Bench wiring: Raspberry Pi 5 gateway + STM32 reference board", "bench-wiring-raspberry-pi-5-gateway--stm32-reference-board"},
		{"`run.json` fields (`rig/record`)", "runjson-fields-rigrecord"},
		{"The external path: a scenario's `targets:`", "the-external-path-a-scenarios-targets"},
		{"History, drift and the validated baseline", "history-drift-and-the-validated-baseline"},
		{"Exit codes (`rig/cmd/rig/main.go`, `bench.go`)", "exit-codes-rigcmdrigmaingo-benchgo"},
		{"A [linked](x.md) heading_with_underscore", "a-linked-heading_with_underscore"},
		{"Set-up: two commands", "set-up-two-commands"},
	} {
		if got := githubSlug(tc.heading); got != tc.want {
			t.Errorf("githubSlug(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

// TestAnchorsRepeatAndSkipCode: a repeated heading gets -1, a "#" line inside a code block is
// no heading, and an <a id> counts.
func TestAnchorsRepeatAndSkipCode(t *testing.T) {
	doc := "# Title\n\n## Part\n\n## Part\n\n```\n# not a heading\n```\n\n| <a id=\"control-x\"></a>X |\n"
	got := anchors(doc)
	for _, want := range []string{"title", "part", "part-1", "control-x"} {
		if !got[want] {
			t.Errorf("anchors lack %q (have %v)", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a comment inside a code block was taken for a heading: %v", got)
	}
}
