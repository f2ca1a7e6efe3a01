package supply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxLines bounds the release lines one declaration may list.
const maxLines = 1000

// Support is a vendor's support declaration for a product: when security support ends and which
// release lines are supported. The file is JSON:
//
//	{
//	  "product": "Acme gateway",
//	  "support_end": "2030-12-31",
//	  "supported_lines": [
//	    {"line": "1.4", "until": "2027-06-30"},
//	    {"line": "1.5"}
//	  ]
//	}
//
// support_end is the last day of the product's support period (EU CRA Article 13(8), ETSI EN
// 303 645 5.3-13); each line is MAJOR, MAJOR.MINOR (a trailing .x allowed) or a single release
// MAJOR.MINOR.PATCH, with an optional last day of its own.
type Support struct {
	Product    string
	SupportEnd time.Time // zero when not declared
	Lines      []Line
	// Missing names what the declaration leaves out (support_end, supported_lines).
	Missing []string
}

// Line is one supported release line.
type Line struct {
	Line  string
	Until time.Time // zero: until SupportEnd
	parts []uint64
}

var lineForm = regexp.MustCompile(`^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?(\.(0|[1-9][0-9]*)|\.x)?$`)

// ParseSupport reads a support declaration strictly: one JSON object, no unknown field, dates as
// YYYY-MM-DD. What it does not declare is listed in Missing, not an error.
func ParseSupport(b []byte) (*Support, error) {
	var doc struct {
		Product        *string `json:"product"`
		SupportEnd     *string `json:"support_end"`
		SupportedLines []struct {
			Line  string  `json:"line"`
			Until *string `json:"until"`
		} `json:"supported_lines"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("support declaration: %w (want a JSON object with support_end and supported_lines)", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("support declaration: more than one JSON value")
	}
	if len(doc.SupportedLines) > maxLines {
		return nil, fmt.Errorf("support declaration: more than %d supported lines", maxLines)
	}
	s := &Support{}
	if doc.Product != nil {
		s.Product = *doc.Product
	}
	if doc.SupportEnd == nil || strings.TrimSpace(*doc.SupportEnd) == "" {
		s.Missing = append(s.Missing, "support_end")
	} else {
		t, err := day(*doc.SupportEnd)
		if err != nil {
			return nil, fmt.Errorf("support declaration: support_end: %w", err)
		}
		s.SupportEnd = t
	}
	if len(doc.SupportedLines) == 0 {
		s.Missing = append(s.Missing, "supported_lines")
	}
	for i, l := range doc.SupportedLines {
		m := lineForm.FindStringSubmatch(l.Line)
		if m == nil {
			return nil, fmt.Errorf("support declaration: supported_lines[%d].line %q is not a release line (1, 1.4, 1.4.x or 1.4.2)", i, l.Line)
		}
		ln := Line{Line: l.Line}
		for _, p := range []string{m[1], m[3], m[5]} {
			if p == "" {
				break
			}
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("support declaration: supported_lines[%d].line %q: %w", i, l.Line, err)
			}
			ln.parts = append(ln.parts, n)
		}
		if l.Until != nil {
			t, err := day(*l.Until)
			if err != nil {
				return nil, fmt.Errorf("support declaration: supported_lines[%d].until: %w", i, err)
			}
			ln.Until = t
		}
		s.Lines = append(s.Lines, ln)
	}
	return s, nil
}

var dayForm = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func day(s string) (time.Time, error) {
	if !dayForm.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not a date: write YYYY-MM-DD", s)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date: write YYYY-MM-DD", s)
	}
	return t, nil
}

// Holds reports whether the line covers release v: MAJOR, MAJOR.MINOR or MAJOR.MINOR.PATCH equal.
func (l Line) Holds(v Version) bool {
	got := []uint64{v.Major, v.Minor, v.Patch}
	for i, p := range l.parts {
		if got[i] != p {
			return false
		}
	}
	return len(l.parts) > 0
}

// LineOf returns the supported line that holds v (the most specific when several do).
func (s *Support) LineOf(v Version) (Line, bool) {
	var best Line
	found := false
	for _, l := range s.Lines {
		if l.Holds(v) && (!found || len(l.parts) > len(best.parts)) {
			best, found = l, true
		}
	}
	return best, found
}

// Ends is the last day of support of a line: its own until, else the declaration's end.
func (s *Support) Ends(l Line) time.Time {
	if !l.Until.IsZero() {
		return l.Until
	}
	return s.SupportEnd
}

// Passed reports whether the last day d is over at now (the day itself is covered, in UTC).
func Passed(d, now time.Time) bool {
	return !d.IsZero() && now.UTC().After(d.AddDate(0, 0, 1))
}
