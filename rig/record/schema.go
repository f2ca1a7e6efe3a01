package record

import _ "embed"

// RunSchemaJSON is the JSON Schema of run.json (schema/run.v1.json), published with the rig so a
// consumer can validate a record without reading Go code.
//
//go:embed schema/run.v1.json
var RunSchemaJSON []byte

// DeltaSchemaJSON is the JSON Schema of delta.json (schema/delta.v1.json), beside the run's.
//
//go:embed schema/delta.v1.json
var DeltaSchemaJSON []byte
