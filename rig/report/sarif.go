package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
)

// SARIFSchema is the schema URI written into findings.sarif.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

// FingerprintKey names the partial fingerprint every result carries.
const FingerprintKey = "rigControl/v1"

// ControlsReference is where the controls are documented: the generated table of docs/controls.md in
// the rig's repository. Each rule's helpUri is this plus the control's anchor (ControlAnchor).
// An absolute URI: SARIF's helpUri is one, and code scanning opens it from any repository.
const ControlsReference = "https://github.com/pathrig/rig/blob/main/docs/controls.md"

// ControlAnchor is the anchor of a control's row in the controls table (rig checks --markdown).
func ControlAnchor(id string) string { return "control-" + strings.ToLower(id) }

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	AutomationDetails  *sarifAutomation            `json:"automationDetails,omitempty"`
	Invocations        []sarifInvocation           `json:"invocations,omitempty"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult               `json:"results"`
	Properties         map[string]any              `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	HelpURI              string         `json:"helpUri"`
	Help                 sarifHelp      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	StartTimeUTC        string `json:"startTimeUtc,omitempty"`
	EndTimeUTC          string `json:"endTimeUtc,omitempty"`
}

type sarifArtifactLoc struct {
	URI         string     `json:"uri,omitempty"`
	URIBaseID   string     `json:"uriBaseId,omitempty"`
	Description *sarifText `json:"description,omitempty"`
}

type sarifResult struct {
	RuleID              string             `json:"ruleId"`
	RuleIndex           int                `json:"ruleIndex"`
	Kind                string             `json:"kind"`
	Level               string             `json:"level"`
	Message             sarifText          `json:"message"`
	Locations           []sarifLocation    `json:"locations"`
	PartialFingerprints map[string]string  `json:"partialFingerprints"`
	BaselineState       string             `json:"baselineState,omitempty"`
	Suppressions        []sarifSuppression `json:"suppressions,omitempty"`
	Properties          map[string]any     `json:"properties"`
}

// sarifSuppression is an accepted risk: suppressed outside the analysed files (kind external),
// with the waiver's reason as the justification, for tools that honour SARIF suppressions.
type sarifSuppression struct {
	Kind          string         `json:"kind"`
	Status        string         `json:"status"`
	Justification string         `json:"justification"`
	Properties    map[string]any `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// securitySeverity maps a severity onto the 0-10 scale GitHub code scanning reads from
// properties.security-severity (>= 9 critical, >= 7 high, >= 4 medium, > 0 low).
func securitySeverity(s record.Severity) string {
	switch s {
	case record.SeverityCritical:
		return "9.5"
	case record.SeverityHigh:
		return "8.0"
	case record.SeverityMedium:
		return "5.5"
	case record.SeverityLow:
		return "3.0"
	}
	return "0.0"
}

func sarifLevel(s record.Severity) string {
	switch s {
	case record.SeverityCritical, record.SeverityHigh:
		return "error"
	case record.SeverityMedium:
		return "warning"
	}
	return "note"
}

// SARIF writes SARIF 2.1.0: one rule per control of the run (with the catalog's help text and a
// helpUri), one result per failed control (kind fail, level from its severity; an accepted risk
// carries a suppression: kind external, status accepted, the waiver's reason as justification)
// and per control that could not be evaluated (kind open). With a baseline, every result carries baselineState, and a control
// that failed in the baseline but passes now is reported as kind pass with baselineState absent.
func SARIF(w io.Writer, in *Input) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{Name: "rig", Version: in.Tool.Version, InformationURI: "https://github.com/pathrig/rig", Rules: []sarifRule{}}},
		// One category per scenario: runs of the same path under other profiles (hardened, regressed)
		// are the same analysis to code scanning, so fixed and reintroduced findings line up.
		AutomationDetails: &sarifAutomation{ID: "rig/" + in.Scenario + "/"},
		OriginalURIBaseIDs: map[string]sarifArtifactLoc{
			"RUNDIR": {Description: &sarifText{Text: "The run folder (the folder holding run.json)."}},
		},
		Results:    []sarifResult{},
		Properties: map[string]any{"headline": in.Headline, "scenario": in.Scenario, "profile": in.Profile},
	}
	if !in.Started.IsZero() {
		run.Invocations = []sarifInvocation{{ExecutionSuccessful: true, StartTimeUTC: sarifTime(in.Started), EndTimeUTC: sarifTime(in.Finished)}}
	}
	for i, c := range in.Controls {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleOf(c))
		res, ok := sarifResultOf(c, i, in.Baseline != nil)
		if ok {
			run.Results = append(run.Results, res)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

func sarifTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func sarifRuleOf(c ControlView) sarifRule {
	def := c.Def
	sev := def.Severity
	if sev == "" {
		sev = c.Severity
	}
	short := c.Title
	full := def.Verifies
	if full == "" {
		full = c.Title
	}
	text := fmt.Sprintf("%s\n\nPass: %s\n\nRemediation: %s\n\nVerification: %s\n\nReferences: %s",
		full, def.Pass, def.Remediation, def.Verification, strings.Join(def.References, "; "))
	var md strings.Builder
	fmt.Fprintf(&md, "**%s** — %s\n\n**Pass criterion.** %s\n\n**Remediation.** %s\n\n**How a rerun verifies the fix.** %s\n\n**References**\n\n",
		c.ID, full, def.Pass, def.Remediation, def.Verification)
	for _, r := range def.References {
		fmt.Fprintf(&md, "- %s\n", r)
	}
	tags := append([]string{"security", "rig", c.Check}, def.References...)
	return sarifRule{
		ID: c.ID, Name: ruleName(c.ID),
		ShortDescription:     sarifText{short},
		FullDescription:      sarifText{full},
		HelpURI:              ControlsReference + "#" + ControlAnchor(c.ID),
		Help:                 sarifHelp{Text: text, Markdown: md.String()},
		DefaultConfiguration: sarifConfig{Level: sarifLevel(sev)},
		Properties: map[string]any{
			"security-severity": securitySeverity(sev), "tags": tags, "precision": "high",
			"problem.severity": sarifLevel(sev), "check": c.Check,
		},
	}
}

// ruleName turns TRANSPORT-TLS-LEGACY into TransportTlsLegacy (SARIF rule names are identifiers).
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part == "" {
			continue
		}
		b.WriteString(part[:1] + strings.ToLower(part[1:]))
	}
	return b.String()
}

func sarifResultOf(c ControlView, ruleIndex int, withBaseline bool) (sarifResult, bool) {
	res := sarifResult{
		RuleID: c.ID, RuleIndex: ruleIndex, Message: sarifText{Text: c.Reason},
		PartialFingerprints: map[string]string{FingerprintKey: c.Fingerprint},
		Properties:          map[string]any{"status": string(c.Status), "severity": string(c.Severity), "security-severity": securitySeverity(c.Severity)},
	}
	switch c.Status {
	case record.StatusFail:
		res.Kind, res.Level = "fail", sarifLevel(c.Severity)
		if w := c.Waiver; w != nil {
			props := map[string]any{"expires": w.Expires, "source": w.Source}
			if w.Owner != "" {
				props["owner"] = w.Owner
			}
			if w.Target != "" {
				props["target"] = w.Target
			}
			res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted", Justification: w.Reason, Properties: props}}
		}
	case record.StatusError:
		res.Kind, res.Level = "open", "none"
		res.Message.Text = "could not be evaluated: " + c.Reason
	case record.StatusPass:
		if !withBaseline || c.Change != delta.Improved {
			return res, false
		}
		res.Kind, res.Level = "pass", "none"
	default:
		return res, false
	}
	if withBaseline {
		switch {
		case c.Status == record.StatusPass:
			res.BaselineState = "absent"
		case c.BaselineStatus == c.Status:
			res.BaselineState = "unchanged"
		case c.BaselineStatus == "" || c.BaselineStatus == record.StatusPass || c.BaselineStatus == record.StatusSkip:
			res.BaselineState = "new"
		default:
			res.BaselineState = "updated" // fail ↔ error: still not verified, in another way
		}
		if c.Change != "" {
			res.Properties["delta"] = string(c.Change)
		}
	}
	loc := sarifLocation{LogicalLocations: []sarifLogical{{Name: c.ID, FullyQualifiedName: c.Check + "/" + c.ID, Kind: "module"}}}
	// Code scanning wants a file for every result: the first evidence file, else the record.
	uri := record.RunFile
	if len(c.Evidence) > 0 {
		uri = c.Evidence[0].Path
		res.Properties["evidence"] = evidencePaths(c.Evidence)
	}
	loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifactLoc{URI: uri, URIBaseID: "RUNDIR"}}
	res.Locations = []sarifLocation{loc}
	return res, true
}
