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
// Priority → Priority (values are Jira's default priority names), Labels → Labels; the other
// columns map to custom fields or stay in the description. README.md documents the same.
var BacklogHeader = []string{"Title", "Description", "Priority", "Rank", "Control", "Severity", "Hop", "Effort", "Remediation", "Verification", "Labels"}

// BacklogCSV writes the prioritized backlog, one row per failed control.
func BacklogCSV(w io.Writer, in *Input) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BacklogHeader); err != nil {
		return err
	}
	for _, r := range in.Backlog {
		title := fmt.Sprintf("[%s] %s", r.Control, r.Title)
		desc := fmt.Sprintf("Finding (%s, %s hop): %s\n\nRemediation: %s\n\nVerification: %s\n\nEvidence: %s",
			r.Severity, r.Hop, r.Reason, r.Remediation, r.Verification, strings.Join(r.Evidence, ", "))
		labels := strings.Join([]string{"rig", "severity-" + string(r.Severity), "hop-" + r.Hop}, " ")
		row := []string{title, desc, r.Priority, strconv.Itoa(r.Rank), r.Control, string(r.Severity), r.Hop, r.Effort, r.Remediation, r.Verification, labels}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
