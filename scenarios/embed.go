// Package scenarios embeds the default scenario, profile and bundle files, so that `rig run
// audit-baseline` works from any folder. A scenario given by path looks for the profiles and
// bundles it names beside it (profiles/, bundles/) first, then here.
package scenarios

import "embed"

// FS holds *.yaml, profiles/*.yaml, bundles/*.yaml (the path bundles path-*.yaml among them),
// the default decision rules, decisions/default.yaml, and vulndb/*.json: a few OSV entries
// (RIG-FIXTURE-*, not real advisories) that the supplier check matches the reference gateway's
// modules against when the scenario names no vulnerability database snapshot.
//
//go:embed *.yaml profiles/*.yaml bundles/*.yaml decisions/*.yaml vulndb/*.json
var FS embed.FS
