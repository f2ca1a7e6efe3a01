package delta

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

// Change is how one configuration fact moved between two runs of a control.
type Change string

const (
	Weaker   Change = "weaker"   // the path accepts more or protects less: a smaller key, a new suite or version
	Stronger Change = "stronger" // the path accepts less or protects more
	Changed  Change = "changed"  // different, with no order between the two values (another issuer, another broker build)
	Routine  Change = "routine"  // churn of a renewal (fingerprint, serial): not drift
)

// FactChange is one fact (record.Result.Facts) whose value differs between the two runs. A list
// fact names what the rerun added and removed; a single value gives both sides.
type FactChange struct {
	Fact    string   `json:"fact"`
	Change  Change   `json:"change"`
	Before  any      `json:"before,omitempty"` // nil: the baseline did not observe it
	After   any      `json:"after,omitempty"`  // nil: the rerun did not observe it
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// String renders the change for a table cell: "cert.key: ECDSA P-256 → RSA 2048 (weaker)".
func (c FactChange) String() string {
	var what string
	switch {
	case c.Added != nil || c.Removed != nil:
		var parts []string
		if len(c.Added) > 0 {
			parts = append(parts, "+ "+strings.Join(c.Added, ", "))
		}
		if len(c.Removed) > 0 {
			parts = append(parts, "− "+strings.Join(c.Removed, ", "))
		}
		what = strings.Join(parts, "; ")
	default:
		what = factText(c.Before) + " → " + factText(c.After)
	}
	return fmt.Sprintf("%s: %s (%s)", c.Fact, what, c.Change)
}

func factText(v any) string {
	switch x := v.(type) {
	case nil:
		return "(not observed)"
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// policy says how the values of one fact order.
type policy struct {
	routine bool
	// grows: a list whose new entries weaken the path (an accepted version, suite or key
	// exchange) and whose dropped entries strengthen it.
	grows bool
	// rank orders single values, higher is stronger; -1 for a value it does not know.
	rank func(v any) int
}

// policies name the facts whose change has a direction, or is routine. Any other fact that changes
// is drift with Change "changed". The names are those rig/checks records (see its facts.go).
var policies = map[string]policy{
	"cert.fingerprint":   {routine: true},
	"cert.serial":        {routine: true},
	"cert.key":           {rank: keyRank},
	"cert.signature":     {rank: signatureRank},
	"cert.self_signed":   {rank: func(v any) int { return boolRank(v, false) }},
	"cert.lifetime_days": {rank: lifetimeRank},
	"tls.versions":       {grows: true},
	"tls.suites":         {grows: true},
	"tls.key_exchange":   {grows: true},
	"tls.client_auth":    {rank: orderRank("none", "optional", "required")},
}

// CompareFacts compares the facts of one control in two runs. drift lists what changed in the
// path's configuration; routine what a renewal changes anyway (kept apart: it is not drift). A
// side without any fact (a run recorded before facts existed, or a control that records none)
// gives nothing: absence of a record is not a change of configuration.
func CompareFacts(before, after map[string]any) (drift, routine []FactChange) {
	if len(before) == 0 || len(after) == 0 {
		return nil, nil
	}
	names := map[string]bool{}
	for k := range before {
		names[k] = true
	}
	for k := range after {
		names[k] = true
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, inB := before[k]
		a, inA := after[k]
		if inB && inA && canonical(b) == canonical(a) {
			continue
		}
		p := policies[k]
		c := FactChange{Fact: k, Change: Changed}
		bl, bList := asList(b)
		al, aList := asList(a)
		if bList || aList {
			c.Added, c.Removed = listDiff(bl, al)
			if c.Added == nil && c.Removed == nil {
				continue // the same set in another order: records before normalisation
			}
			if c.Added == nil {
				c.Added = []string{}
			}
			if c.Removed == nil {
				c.Removed = []string{}
			}
		} else {
			c.Before, c.After = b, a
		}
		switch {
		case p.routine:
			c.Change = Routine
			routine = append(routine, c)
			continue
		case p.grows && len(c.Added) > 0:
			c.Change = Weaker
		case p.grows && len(c.Removed) > 0:
			c.Change = Stronger
		case p.rank != nil && inB && inA:
			rb, ra := p.rank(b), p.rank(a)
			switch {
			case rb < 0 || ra < 0 || rb == ra:
				c.Change = Changed
			case ra < rb:
				c.Change = Weaker
			default:
				c.Change = Stronger
			}
		}
		drift = append(drift, c)
	}
	return drift, routine
}

// sameVerdict reports whether a control's two results can drift: the same decided status.
func sameVerdict(a, b record.Result) bool {
	return a.Status == b.Status && (a.Status == record.StatusPass || a.Status == record.StatusFail)
}

// Drift compares two results of one control: nothing unless both have the same decided verdict
// (pass or fail), since a changed verdict is already an improvement, regression or change.
func Drift(before, after record.Result) (drift, routine []FactChange) {
	if !sameVerdict(before, after) {
		return nil, nil
	}
	return CompareFacts(before.Facts, after.Facts)
}

// canonical is a value's JSON, so that 2 and 2.0 (a number read back from run.json) compare equal.
func canonical(v any) string {
	if l, ok := asList(v); ok {
		l = slices.Clone(l)
		sort.Strings(l)
		v = l
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// asList returns a list fact as strings (it comes back from JSON as []any).
func asList(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return x, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out, true
	}
	return nil, false
}

// listDiff returns what after has that before has not, and the reverse, each sorted; nil for none.
func listDiff(before, after []string) (added, removed []string) {
	in := func(l []string, s string) bool { return slices.Contains(l, s) }
	for _, s := range after {
		if !in(before, s) && !in(added, s) {
			added = append(added, s)
		}
	}
	for _, s := range before {
		if !in(after, s) && !in(removed, s) {
			removed = append(removed, s)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// keyRank is a key's strength in security bits (NIST SP 800-57 Part 1, table 2): RSA 2048 is
// 112, RSA 3072 and P-256 are 128.
func keyRank(v any) int {
	s, _ := v.(string)
	switch {
	case s == "Ed25519":
		return 128
	case strings.HasPrefix(s, "ECDSA P-"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "ECDSA P-"))
		if err != nil {
			return -1
		}
		return n / 2
	case strings.HasPrefix(s, "RSA "):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "RSA "))
		if err != nil {
			return -1
		}
		for _, step := range []struct{ bits, strength int }{{15360, 256}, {7680, 192}, {3072, 128}, {2048, 112}, {1024, 80}} {
			if n >= step.bits {
				return step.strength
			}
		}
		return n / 16
	}
	return -1
}

// signatureRank orders signature algorithms (crypto/x509 names) by their hash.
func signatureRank(v any) int {
	s, _ := v.(string)
	switch {
	case s == "Ed25519":
		return 3
	case strings.Contains(s, "MD2"), strings.Contains(s, "MD5"):
		return 0
	case strings.Contains(s, "SHA1"):
		return 1
	case strings.Contains(s, "SHA256"):
		return 2
	case strings.Contains(s, "SHA384"):
		return 3
	case strings.Contains(s, "SHA512"):
		return 4
	}
	return -1
}

func boolRank(v any, strong bool) int {
	b, ok := v.(bool)
	switch {
	case !ok:
		return -1
	case b == strong:
		return 1
	}
	return 0
}

// lifetimeRank: a longer certificate lifetime is weaker (a leaked key stays usable longer).
func lifetimeRank(v any) int {
	days := -1
	switch x := v.(type) {
	case int:
		days = x
	case float64:
		days = int(x)
	}
	if days < 0 {
		return -1
	}
	return max(0, 1<<20-days)
}

// orderRank ranks a string by its place in values, weakest first.
func orderRank(values ...string) func(any) int {
	return func(v any) int {
		s, _ := v.(string)
		return slices.Index(values, s)
	}
}
