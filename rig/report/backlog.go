package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// BacklogHeader is the header row of backlog.csv. Title and Description are the two columns the
// GitLab issue importer reads (matched case-insensitively; other columns are ignored there). The
// Jira CSV importer maps columns in its wizard: Title → Summary, Description → Description,
// Priority → Priority (values are Jira's default priority names), and every Labels column →
// Labels (Jira takes one label per column, and repeated columns for more). Key is stable across
// runs, scenarios and profiles (RIG-<CONTROL>): a tracker that matches rows on it (a custom field)
// updates an imported issue instead of duplicating it. README.md documents the same.
var BacklogHeader = []string{"Key", "Title", "Description", "Priority", "Rank", "Control", "Severity", "Hop", "Effort", "Remediation", "Verification", "Labels", "Labels", "Labels"}

// BacklogKey is the stable key of a control's backlog row.
func BacklogKey(control string) string { return "RIG-" + control }

// BacklogCSV writes the prioritized backlog, one row per failed control without an accepted
// risk.
func BacklogCSV(w io.Writer, in *Input) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BacklogHeader); err != nil {
		return err
	}
	for _, r := range in.Backlog {
		title := fmt.Sprintf("[%s] %s", r.Control, r.Title)
		desc := fmt.Sprintf("Finding (%s, %s hop): %s\n\nRemediation: %s\n\nVerification: %s\n\nEvidence: %s",
			r.Severity, r.Hop, r.Reason, r.Remediation, r.Verification, strings.Join(r.Evidence, ", "))
		row := []string{BacklogKey(r.Control), title, desc, r.Priority, strconv.Itoa(r.Rank), r.Control, string(r.Severity), r.Hop, r.Effort, r.Remediation, r.Verification,
			"rig", "severity-" + string(r.Severity), "hop-" + r.Hop}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
