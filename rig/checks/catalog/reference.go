package catalog

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ReferencePath is where the controls reference is committed, relative to the repository root.
const ReferencePath = "docs/controls-reference.md"

// Reference renders the controls reference (docs/controls-reference.md) from controls, in their
// order: an index table, then one section per control with every field of its definition. The
// output depends on the definitions alone, so the committed file can be compared byte for byte.
func Reference(controls []Control) []byte {
	var b bytes.Buffer
	b.WriteString("# Controls reference\n\n")
	b.WriteString("<!-- Generated from " + Name + " by `make docs` (go test ./rig/checks/catalog -run TestControlsReference -update). Do not edit: edit the catalog and regenerate. -->\n\n")
	fmt.Fprintf(&b, "%d controls. Each is evaluated by one check; a control that could not be evaluated is `error`, never `pass`. ", len(controls))
	b.WriteString("Severity is that of a failure (a check may report a worse one for the case it observed); hop is where a failure is fixed and effort the usual size of the fix (S: hours, a configuration change; M: days, reissued credentials or a change in one service; L: a sprint, across hops or the fleet).\n\n")
	b.WriteString("| Control | Title | Check | Severity | Hop | Effort |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range controls {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s | %s | %s |\n", c.ID, strings.ToLower(c.ID), cell(c.Title), c.Check, c.Severity, c.Hop, c.Effort)
	}
	for _, c := range controls {
		fmt.Fprintf(&b, "\n## %s\n\n", c.ID)
		fmt.Fprintf(&b, "**%s**\n\n", oneLine(c.Title))
		fmt.Fprintf(&b, "- Check: `%s`\n", c.Check)
		fmt.Fprintf(&b, "- Severity: %s\n", c.Severity)
		fmt.Fprintf(&b, "- Hop: %s\n", c.Hop)
		fmt.Fprintf(&b, "- Effort: %s\n", c.Effort)
		if len(c.Thresholds) > 0 {
			var th []string
			for _, k := range slices.Sorted(maps.Keys(c.Thresholds)) {
				th = append(th, fmt.Sprintf("`%s` = %d", k, c.Thresholds[k]))
			}
			fmt.Fprintf(&b, "- Thresholds: %s\n", strings.Join(th, ", "))
		}
		for _, f := range [][2]string{{"What it verifies", c.Verifies}, {"Pass criterion", c.Pass}, {"Remediation", c.Remediation}, {"Verification", c.Verification}} {
			fmt.Fprintf(&b, "\n### %s\n\n%s\n", f[0], strings.TrimSpace(f[1]))
		}
		b.WriteString("\n### References\n\n")
		for _, r := range c.References {
			fmt.Fprintf(&b, "- %s\n", r)
		}
	}
	return b.Bytes()
}

// oneLine joins a text's lines with spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell makes a text safe in a table cell.
func cell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }
