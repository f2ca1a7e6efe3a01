package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pathrig/rig/rig/record"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr,omitempty"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr,omitempty"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// JUnit writes one testsuite per check and one testcase per control: fail → <failure> carrying
// the remediation, error → <error>, skip and an accepted risk → <skipped>, pass → an empty
// testcase. time is the run's (testsuites), the check's (testsuite) and an even share of the
// check's among its controls (testcase).
func JUnit(w io.Writer, in *Input) error {
	root := junitSuites{Name: "rig " + in.Scenario + " (" + in.Profile + ")"}
	idx := map[string]int{}
	for _, c := range in.Controls {
		i, ok := idx[c.Check]
		if !ok {
			i = len(root.Suites)
			idx[c.Check] = i
			s := junitSuite{Name: c.Check, Properties: []junitProperty{{"scenario", in.Scenario}, {"profile", in.Profile}}}
			if !in.Started.IsZero() {
				s.Timestamp = in.Started.UTC().Format("2006-01-02T15:04:05")
			}
			root.Suites = append(root.Suites, s)
		}
		s := &root.Suites[i]
		tc := junitCase{Name: c.ID + ": " + c.Title, Classname: "rig." + c.Check}
		if len(c.Evidence) > 0 {
			tc.SystemOut = "evidence: " + strings.Join(evidencePaths(c.Evidence), ", ")
		}
		switch {
		case c.Waived():
			// An accepted risk does not fail CI (it is out of --fail-on): reported as skipped,
			// with the waiver.
			w := c.Waiver
			tc.Skipped = &junitMessage{Message: fmt.Sprintf("accepted risk until %s: %s", w.Expires, w.Reason),
				Body: fmt.Sprintf("Failed (%s): %s\nAccepted by %s until %s (%s): %s", c.Severity, c.Reason, orDash(w.Owner), w.Expires, w.Source, w.Reason)}
			s.Skipped++
			root.Skipped++
		case c.Status == record.StatusFail:
			tc.Failure = &junitMessage{Message: c.Reason, Type: string(c.Severity),
				Body: fmt.Sprintf("Severity: %s\nRemediation: %s\nVerification: %s", c.Severity, c.Def.Remediation, c.Def.Verification)}
			s.Failures++
			root.Failures++
		case c.Status == record.StatusError:
			tc.Error = &junitMessage{Message: c.Reason, Type: "not-evaluated", Body: "The control could not be evaluated; it is not a pass. " + c.Reason}
			s.Errors++
			root.Errors++
		case c.Status == record.StatusSkip:
			tc.Skipped = &junitMessage{Message: c.Reason}
			s.Skipped++
			root.Skipped++
		}
		s.Cases = append(s.Cases, tc)
		s.Tests++
		root.Tests++
	}
	// Times: the run's for the root, each check's for its suite (volatile.checks). The controls of
	// a check are probed together, so a testcase gets an even share of its check's time.
	if d := in.Finished.Sub(in.Started); !in.Started.IsZero() && d >= 0 {
		root.Time = seconds(d.Seconds())
	}
	for i := range root.Suites {
		s := &root.Suites[i]
		span, ok := in.CheckTimes[s.Name]
		if !ok || len(s.Cases) == 0 {
			continue
		}
		s.Time = seconds(span.Seconds())
		s.Timestamp = span.Started.UTC().Format("2006-01-02T15:04:05")
		for j := range s.Cases {
			s.Cases[j].Time = seconds(span.Seconds() / float64(len(s.Cases)))
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// seconds formats a duration as JUnit's time attribute: seconds with millisecond precision.
func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
