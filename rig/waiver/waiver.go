// Package waiver applies accepted risks (the waivers of a scenario or of rig run --waivers) to a
// run's results: a waived failure stays fail with the waiver attached, and what became of every
// waiver (applied, expired, no longer needed, not applicable) is recorded for the reports.
package waiver

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/scenario"
)

// Targets returns what a waiver's target is matched against for a control whose fix is made at
// hop: the run's endpoints of that hop, as run.json records them.
//
//	broker           volatile.targets broker_plain and broker_tls (host:port)
//	ingest           volatile.targets ingest (the URL)
//	device, gateway  device.uid (the UID the device reported) and volatile.targets serial
//	path             every one of the above
func Targets(run *record.Run, hop string) []string {
	t := run.Volatile.Targets
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	broker := hop == "broker" || hop == "path"
	ingest := hop == "ingest" || hop == "path"
	device := hop == "device" || hop == "gateway" || hop == "path"
	if broker {
		add(t["broker_plain"], t["broker_tls"])
	}
	if ingest {
		add(t["ingest"])
	}
	if device {
		if run.Device != nil {
			add(run.Device.UID)
		}
		add(t["serial"])
	}
	return out
}

// Apply attaches the waivers ws to run's failed results and returns what became of each, in file
// order. hops gives the catalog's hop of each control (for Targets). A waiver applies through
// its expiry day, judged on today's UTC date; the first waiver that applies to a result wins.
// Apply does not summarize: call run.Summarize afterwards.
func Apply(run *record.Run, ws []scenario.Waiver, hops map[string]string, today time.Time) []record.WaiverNote {
	day := today.UTC().Format(time.DateOnly)
	byControl := map[string]int{}
	for i, r := range run.Results {
		byControl[r.Control] = i
	}
	notes := make([]record.WaiverNote, 0, len(ws))
	for _, w := range ws {
		rw := record.Waiver{Reason: w.Reason, Owner: w.Owner, Expires: w.Expires.String(), Target: w.Target, Source: w.Source}
		n := record.WaiverNote{Control: w.Control, Waiver: rw}
		i, ok := byControl[w.Control]
		switch {
		case !ok:
			n.State, n.Note = record.WaiverNotApplicable, fmt.Sprintf("%s is not among the controls of this run", w.Control)
		case w.Target != "" && !slices.Contains(Targets(run, hops[w.Control]), w.Target):
			n.State, n.Note = record.WaiverNotApplicable, fmt.Sprintf("the waiver is narrowed to %s, and this run's %s target is %s", w.Target, hopName(hops[w.Control]), targetList(Targets(run, hops[w.Control])))
		case run.Results[i].Status == record.StatusPass:
			n.State, n.Note = record.WaiverNotNeeded, fmt.Sprintf("%s passes: the waiver is no longer needed, remove it", w.Control)
		case run.Results[i].Status != record.StatusFail:
			n.State, n.Note = record.WaiverNotApplicable, fmt.Sprintf("%s is %s, not a finding: a waiver accepts a failure, never a control that was not verified", w.Control, run.Results[i].Status)
		case day > rw.Expires:
			n.State, n.Note = record.WaiverExpired, fmt.Sprintf("the waiver expired on %s: %s counts as a finding again (renew the waiver or fix it)", rw.Expires, w.Control)
		case run.Results[i].Waiver != nil:
			n.State, n.Note = record.WaiverNotApplicable, fmt.Sprintf("%s is already accepted by the waiver at %s", w.Control, run.Results[i].Waiver.Source)
		default:
			acc := rw
			run.Results[i].Waiver = &acc
			n.State, n.Note = record.WaiverApplied, fmt.Sprintf("the failure of %s is an accepted risk until %s", w.Control, rw.Expires)
		}
		notes = append(notes, n)
	}
	return notes
}

func hopName(hop string) string {
	if hop == "" {
		return "path"
	}
	return hop
}

func targetList(ts []string) string {
	if len(ts) == 0 {
		return "not named"
	}
	return strings.Join(ts, " or ")
}
