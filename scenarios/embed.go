// Package scenarios embeds the default scenario, profile and bundle files, so that `rig run
// audit-baseline` works from any folder. A scenario given by path looks for the profiles and
// bundles it names beside it (profiles/, bundles/) first, then here.
package scenarios

import "embed"

// FS holds *.yaml, profiles/*.yaml, bundles/*.yaml and the default decision rules,
// decisions/default.yaml.
//
//go:embed *.yaml profiles/*.yaml bundles/*.yaml decisions/*.yaml
var FS embed.FS
