package report

import "html/template"

// acceptedRisksHTML is report.html's section of accepted risks (failures with a waiver) and of
// the waivers that did not apply: expired, no longer needed, not applicable. html.go includes it
// with {{template "accepted-risks" .}}.
const acceptedRisksHTML = `{{$acc := .Accepted}}{{$notes := .WaiverNotes "expired" "not-needed" "not-applicable"}}{{if or $acc $notes}}<section id="accepted-risks"><h2>Accepted risks</h2>
{{if $acc}}<p>Failures whose risk is accepted until the date shown: they stay <code>fail</code> in run.json and count as accepted, not as findings.</p>
<table><tr><th>Control</th><th>Severity</th><th>Reason</th><th>Owner</th><th>Expires</th><th>Target</th></tr>
{{range $acc}}<tr><td><a href="#{{.ID}}">{{.ID}}</a></td><td>{{.Severity}}</td><td>{{.Waiver.Reason}}</td><td>{{or .Waiver.Owner "—"}}</td><td>{{.Waiver.Expires}}</td><td>{{or .Waiver.Target "—"}}</td></tr>
{{end}}</table>{{else}}<p>No waiver applies to a failure of this run.</p>{{end}}
{{if $notes}}<ul>{{range $notes}}<li><strong>{{if eq .State "expired"}}Expired{{else if eq .State "not-needed"}}No longer needed{{else}}Not applied{{end}}:</strong> {{.Control}} — {{.Note}} <span class="meta">({{.Source}})</span></li>
{{end}}</ul>{{end}}
</section>{{end}}`

func init() {
	template.Must(runPage.New("accepted-risks").Parse(acceptedRisksHTML))
}
