package selfcheck

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for a terminal: one line per item (status, ID, what was seen), the
// remedy under each failure, and a closing count.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "bench %s", r.Bench)
	if r.File != "" {
		fmt.Fprintf(&b, " (%s)", r.File)
	}
	fmt.Fprintf(&b, " · port %s\n", r.Port)
	width := 0
	for _, it := range r.Items {
		width = max(width, len(it.ID))
	}
	for _, it := range r.Items {
		label := string(it.Status)
		if it.Status == Fail || it.Status == Error {
			label = strings.ToUpper(label)
		}
		fmt.Fprintf(&b, "%-5s  %-*s  %s\n", label, width, it.ID, it.Detail)
		if it.Remedy != "" && (it.Status == Fail || it.Status == Error) {
			fmt.Fprintf(&b, "%-5s  %-*s  remedy: %s\n", "", width, "", it.Remedy)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "%d passed · %d failed · %d could not be evaluated · %d skipped", s.Pass, s.Fail, s.Error, s.Skip)
	if s.OK {
		b.WriteString(": the bench is ready\n")
	} else {
		b.WriteString(": fix what failed before an audit\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
