package engine

import (
	"log/slog"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/record"
	"github.com/pathrig/rig/rig/report"
	"github.com/pathrig/rig/rig/scenario"
	"github.com/pathrig/rig/rig/waiver"
)

// decide applies the plan's accepted risks to the run's results, summarizes the run and records
// its leadership decision from the plan's rules (the defaults when the plan has none). Waivers
// that expired or are no longer needed are logged as warnings: someone has to act on them.
func decide(run *record.Run, plan *scenario.Plan, log *slog.Logger) error {
	cat, err := checks.Catalog()
	if err != nil {
		return err
	}
	if len(plan.Waivers) > 0 {
		hops := map[string]string{}
		for _, c := range cat {
			hops[c.ID] = c.Hop
		}
		run.Waivers = waiver.Apply(run, plan.Waivers, hops, run.Volatile.Started)
		for _, n := range run.Waivers {
			l := log.With("control", n.Control, "expires", n.Expires, "waiver", n.Source)
			switch n.State {
			case record.WaiverApplied:
				l.Info("accepted risk", "reason", n.Reason, "owner", n.Owner)
			case record.WaiverExpired:
				l.Warn("waiver expired: the finding counts again", "note", n.Note)
			case record.WaiverNotNeeded:
				l.Warn("waiver no longer needed: the control passes", "note", n.Note)
			default:
				l.Info("waiver not applied", "note", n.Note)
			}
		}
	}
	run.Summarize()
	rules := plan.Decision
	if len(rules) == 0 {
		if rules, err = report.DefaultRules(); err != nil {
			return err
		}
	}
	d := report.Decide(run, cat, rules)
	run.Decision = &d
	log.Info("decision", "verdict", d.Verdict, "rule", d.Rule)
	return nil
}
