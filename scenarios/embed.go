// Package scenarios embeds the default scenario, profile and bundle files, so that `rig run
// audit-baseline` works from any folder. Files on disk with the same name take precedence.
package scenarios

import "embed"

// FS holds *.yaml, profiles/*.yaml and bundles/*.yaml.
//
//go:embed *.yaml profiles/*.yaml bundles/*.yaml
var FS embed.FS
