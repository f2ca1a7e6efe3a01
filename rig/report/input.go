package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/pathrig/rig/rig/checks/catalog"
	"github.com/pathrig/rig/rig/delta"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
)

// Input is what a run writer needs: the record joined with the catalog's definitions, the
// backlog, the decision and (optionally) the baseline comparison. It is a rendering input built
// by Build; the record and the catalog it came from are never changed.
type Input struct {
	Headline string
	Scenario string
	Profile  string
	Bundles  []string
	Checks   []string
	Tool     record.Tool
	Device   *record.Device
	Counts   record.Summary
	// Scope is the paths the run selected and what it left out; nil without a path bundle.
	Scope    *record.Scope
	Started  time.Time
	Finished time.Time
	// CheckTimes are when each check ran (run.json volatile.checks), by check ID.
	CheckTimes map[string]record.Span
	Decision   Decision
	Controls   []ControlView // run order: check order, then control ID
	Backlog    []BacklogRow  // failed controls without an accepted risk, priority order
	// Waivers says what became of each waiver the run was given (applied, expired, …).
	Waivers  []record.WaiverNote
	Timeline *Timeline
	// Baseline is set when the run was compared with a baseline run.
	Baseline *BaselineRef
}

// BaselineRef names the run an Input was compared with.
type BaselineRef struct {
	Path     string
	Headline string
	Summary  delta.Summary
}

// ControlView is one control as a writer shows it: the result with its definition.
type ControlView struct {
	ID       string
	Check    string
	Title    string
	Status   record.Status
	Severity record.Severity // effective severity (a result may be worse than the catalog's)
	Reason   string
	Observed string // observed values as compact JSON with sorted keys, "" when none
	Evidence []EvidenceView
	Def      catalog.Control // the definition; zero with Known false when the catalog lacks it
	Known    bool
	// Fingerprint is stable across runs of the same path: it depends on the control ID only.
	Fingerprint string
	// Change is the delta class against the baseline ("" without one).
	Change delta.Class
	// BaselineStatus is the control's status in the baseline ("" without one or when new).
	BaselineStatus record.Status
	// Waiver is the accepted risk of a failed control, nil otherwise.
	Waiver *record.Waiver
}

// Waived reports whether the control is a failure whose risk is accepted.
func (c ControlView) Waived() bool { return c.Status == record.StatusFail && c.Waiver != nil }

// EvidenceView is one evidence file of a control.
type EvidenceView struct {
	Path    string // relative to the run folder, slash-separated
	Snippet string // the file's text when it is small UTF-8 text; "" otherwise
	Size    int64  // -1 when the file could not be read
}

// BuildOptions say where the run folder is (for evidence snippets and the timeline) and what to
// compare with.
type BuildOptions struct {
	RunDir       string      // "" renders without snippets and timeline
	Baseline     *record.Run // nil: no baseline comparison
	BaselinePath string
	// Rules decide a run whose record holds no decision; nil: the default rules.
	Rules []scenario.DecisionRule
}

// snippetMax bounds inline evidence: larger files are linked, not inlined.
const snippetMax = 4096

// Build joins run with the catalog's controls into a rendering input.
func Build(run *record.Run, controls []catalog.Control, opts BuildOptions) (*Input, error) {
	if run == nil {
		return nil, errors.New("report: no run record")
	}
	defs := make(map[string]catalog.Control, len(controls))
	for _, c := range controls {
		defs[c.ID] = c
	}
	in := &Input{
		Headline:   run.Summary.Headline,
		Scenario:   run.Scenario,
		Profile:    run.Profile,
		Bundles:    append([]string(nil), run.Bundles...),
		Checks:     append([]string(nil), run.Checks...),
		Tool:       run.Tool,
		Counts:     run.Summary,
		Started:    run.Volatile.Started,
		Finished:   run.Volatile.Finished,
		Waivers:    slices.Clone(run.Waivers),
		CheckTimes: maps.Clone(run.Volatile.Checks),
	}
	if run.Decision != nil {
		in.Decision = *run.Decision // decided when the run was made, with the scenario's rules
	} else {
		rules := opts.Rules
		if rules == nil {
			var err error
			if rules, err = DefaultRules(); err != nil {
				return nil, err
			}
		}
		in.Decision = Decide(run, controls, rules)
	}
	if run.Device != nil {
		d := *run.Device
		in.Device = &d
	}
	if run.Scope != nil {
		sc := &record.Scope{Paths: slices.Clone(run.Scope.Paths)}
		for _, g := range run.Scope.OutOfScope {
			sc.OutOfScope = append(sc.OutOfScope, record.OutOfScope{Check: g.Check, Controls: slices.Clone(g.Controls), Paths: slices.Clone(g.Paths)})
		}
		in.Scope = sc
	}
	var changes map[string]delta.Row
	if opts.Baseline != nil {
		d := delta.Compare(opts.Baseline, run, opts.BaselinePath, "")
		changes = map[string]delta.Row{}
		for _, r := range d.Rows {
			changes[r.Control] = r
		}
		in.Baseline = &BaselineRef{Path: opts.BaselinePath, Headline: opts.Baseline.Summary.Headline, Summary: d.Summary}
	}
	for _, res := range run.Results {
		def, known := defs[res.Control]
		def.References = append([]string(nil), def.References...)
		def.Thresholds = maps.Clone(def.Thresholds)
		cv := ControlView{
			ID: res.Control, Check: res.Check, Title: res.Title, Status: res.Status, Severity: res.Severity,
			Reason: res.Reason, Def: def, Known: known, Fingerprint: Fingerprint(res.Control),
		}
		if res.Waiver != nil {
			w := *res.Waiver
			cv.Waiver = &w
		}
		if len(res.Observed) > 0 {
			b, err := json.Marshal(res.Observed) // maps marshal with sorted keys
			if err != nil {
				return nil, fmt.Errorf("report: observed values of %s: %w", res.Control, err)
			}
			cv.Observed = string(b)
		}
		for _, e := range res.Evidence {
			cv.Evidence = append(cv.Evidence, evidenceView(opts.RunDir, e))
		}
		if row, ok := changes[res.Control]; ok {
			cv.Change = row.Class
			if row.Before != nil {
				cv.BaselineStatus = row.Before.Status
			}
		}
		in.Controls = append(in.Controls, cv)
	}
	in.Backlog = backlog(in.Controls)
	if opts.RunDir != "" {
		tl, err := readTimeline(opts.RunDir)
		if err != nil {
			return nil, err
		}
		in.Timeline = tl
	}
	return in, nil
}

// Fingerprint is the stable identity of a control's finding across runs of a path.
func Fingerprint(control string) string {
	sum := sha256.Sum256([]byte("rig.control/v1|" + control))
	return hex.EncodeToString(sum[:16])
}

func evidenceView(runDir, rel string) EvidenceView {
	ev := EvidenceView{Path: rel, Size: -1}
	if runDir == "" {
		return ev
	}
	b, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(rel)))
	if err != nil {
		return ev
	}
	ev.Size = int64(len(b))
	if len(b) <= snippetMax && utf8.Valid(b) && !bytes.ContainsRune(b, 0) {
		ev.Snippet = string(b)
	}
	return ev
}

func readTimeline(runDir string) (*Timeline, error) {
	b, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(record.TimelineFile)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: read timeline: %w", err)
	}
	var tl Timeline
	if err := json.Unmarshal(b, &tl); err != nil {
		return nil, fmt.Errorf("report: %s is not a timeline: %w", record.TimelineFile, err)
	}
	if tl.BucketMs <= 0 || (tl.Total() == 0 && tl.SentTotal() == 0) {
		return nil, nil
	}
	return &tl, nil
}

// Timeline and TimelineSeries are the run's telemetry timeline as record.TimelineFile holds it.
type (
	Timeline       = record.Timeline
	TimelineSeries = record.TimelineSeries
)

// BacklogRow is one item of the prioritized backlog.
type BacklogRow struct {
	Rank         int    // 1 is first
	Priority     string // Jira's default priority names: Highest, High, Medium, Low, Lowest
	Control      string
	Title        string
	Severity     record.Severity
	Hop          string // where the fix is made: device, gateway, broker, ingest
	Effort       string // S, M or L (catalog.Efforts)
	Remediation  string
	Verification string
	Reason       string
	Evidence     []string
}

// owner returns where a failed control is fixed and how big the fix usually is: the catalog's
// hop and effort. A control the catalog does not define (a record from another rig build) is
// given to the whole path at medium effort rather than dropped from the backlog.
func owner(c ControlView) (hop, effort string) {
	if c.Known && c.Def.Hop != "" && c.Def.Effort != "" {
		return c.Def.Hop, c.Def.Effort
	}
	return "path", "M"
}

func effortRank(e string) int {
	switch e {
	case "S":
		return 0
	case "M":
		return 1
	}
	return 2
}

func jiraPriority(s record.Severity) string {
	switch s {
	case record.SeverityCritical:
		return "Highest"
	case record.SeverityHigh:
		return "High"
	case record.SeverityMedium:
		return "Medium"
	case record.SeverityLow:
		return "Low"
	}
	return "Lowest"
}

// backlog orders failed controls: most severe first, then the smaller effort (quick wins), then
// control ID.
func backlog(cs []ControlView) []BacklogRow {
	var rows []BacklogRow
	for _, c := range cs {
		if c.Status != record.StatusFail || c.Waived() {
			continue // an accepted risk is not planned work: summary.md lists it with its expiry
		}
		hop, effort := owner(c)
		rows = append(rows, BacklogRow{
			Priority: jiraPriority(c.Severity), Control: c.ID, Title: c.Title, Severity: c.Severity,
			Hop: hop, Effort: effort, Remediation: c.Def.Remediation, Verification: c.Def.Verification,
			Reason: c.Reason, Evidence: evidencePaths(c.Evidence),
		})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ra, rb := a.Severity.Rank(), b.Severity.Rank(); ra != rb {
			return ra > rb
		}
		if ea, eb := effortRank(a.Effort), effortRank(b.Effort); ea != eb {
			return ea < eb
		}
		return a.Control < b.Control
	})
	for i := range rows {
		rows[i].Rank = i + 1
	}
	return rows
}

func evidencePaths(ev []EvidenceView) []string {
	out := make([]string, len(ev))
	for i, e := range ev {
		out[i] = e.Path
	}
	return out
}

// ByStatus returns the controls with status s, in run order.
func (in *Input) ByStatus(s ...record.Status) []ControlView {
	var out []ControlView
	for _, c := range in.Controls {
		for _, want := range s {
			if c.Status == want {
				out = append(out, c)
			}
		}
	}
	return out
}

// Accepted returns the failed controls whose risk is accepted, in run order.
func (in *Input) Accepted() []ControlView {
	var out []ControlView
	for _, c := range in.Controls {
		if c.Waived() {
			out = append(out, c)
		}
	}
	return out
}

// WaiverNotes returns the notes of the waivers in the given states, in file order.
func (in *Input) WaiverNotes(states ...string) []record.WaiverNote {
	var out []record.WaiverNote
	for _, n := range in.Waivers {
		if slices.Contains(states, n.State) {
			out = append(out, n)
		}
	}
	return out
}

// Findings returns the failed controls without an accepted risk, most severe first, then by
// control ID.
func (in *Input) Findings() []ControlView {
	out := slices.DeleteFunc(in.ByStatus(record.StatusFail), ControlView.Waived)
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := out[i].Severity.Rank(), out[j].Severity.Rank(); a != b {
			return a > b
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
