// Package scenarios embeds the default scenario, profile and bundle files, so that `rig run
// audit-baseline` works from any folder. A scenario given by path looks for the profiles and
// bundles it names beside it (profiles/, bundles/) first, then here.
package scenarios

import "embed"

// FS holds *.yaml, profiles/*.yaml and bundles/*.yaml.
//
//go:embed *.yaml profiles/*.yaml bundles/*.yaml
var FS embed.FS
