package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzDefinitionFiles feeds the same bytes to the scenario, profile and bundle decoders and
// validators. Whatever the bytes, each either accepts them with every value in its documented
// range or refuses them with a *FileError naming the file; the YAML library never crashes the
// rig (a panic it raised and decode recovered counts as a failure here, to be fixed by a check
// before the library sees the input).
func FuzzDefinitionFiles(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		check := func(kind string, err error) bool {
			if err == nil {
				return true
			}
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) || fe.File != name {
				t.Fatalf("%s: error %T %v is not a *FileError on %s", kind, err, err, name)
			}
			if strings.Contains(fe.Msg, "the YAML library failed") {
				t.Fatalf("%s: %v", kind, err)
			}
			return false
		}

		var sc Scenario
		d, err := decode(name, data, &sc)
		if check("scenario", err) {
			err = sc.validate(d)
			if err == nil && sc.Targets != nil {
				err = sc.Targets.validate(d, "") // relative names resolve in the package folder
			}
			if check("scenario", err) {
				lm, dv, tr := sc.Limits, sc.Device, sc.Trust
				if lm.OversizeBytes < 1024 || lm.OversizeBytes > 64<<20 || dv.Baud < 1200 || dv.Baud > 4000000 ||
					tr.Phase.D() > maxPhase || sc.Fleet.Devices < 1 || sc.Timing.Timeout.D() < time.Second {
					t.Fatalf("scenario accepted out of range: limits %+v baud %d trust %+v fleet %+v", lm, dv.Baud, tr, sc.Fleet)
				}
				for i, fl := range sc.Faults {
					if fl.At < 0 || fl.Duration < 0 || fl.Duration.D() > maxPhase || fl.End() > tr.Phase.D() {
						t.Fatalf("fault %d at %s ends %s, after the phase %s", i, fl.At, fl.End(), tr.Phase)
					}
				}
			}
		}

		var p Profile
		if d, err := decode(name, data, &p); check("profile", err) {
			if check("profile", p.validate(d)) && (p.Gateway.QoS > 1 || p.Ingest.MaxBody < 0 || (!p.Broker.Plaintext && !p.Broker.TLS.Enabled)) {
				t.Fatalf("profile accepted out of range: %+v", p)
			}
		}

		var b Bundle
		if d, err := decode(name, data, &b); check("bundle", err) {
			if check("bundle", b.validate(d)) && (b.Name == "" || len(b.Checks) == 0) {
				t.Fatalf("bundle accepted without name or checks: %+v", b)
			}
		}
	})
}
