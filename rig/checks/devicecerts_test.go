package checks

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/record"
)

// inventory copies the named openssl-made certificate cases (and their keys, which the loader
// must ignore) into a fresh folder and loads it.
func inventory(t *testing.T, p *opensslPKI, names ...string) []DeviceCert {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		for _, f := range []string{p.cert(n), p.key(n)} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	inv, err := LoadInventory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != len(names) {
		t.Fatalf("loaded %d certificates from %d files", len(inv), len(names))
	}
	return inv
}

func presented(t *testing.T, p *opensslPKI, clientID, cert string) DeviceCert {
	return DeviceCert{Source: "presented:tls", ClientID: clientID, Cert: p.tlsCert(t, cert).Leaf}
}

// TestDeviceCerts judges fleets made with the openssl CLI: a clean one, and one with every fault
// (self-signed RSA-1024, SHA-1, expired, no clientAuth EKU, two devices sharing one key, a client
// presenting another device's certificate).
func TestDeviceCerts(t *testing.T) {
	p := newOpenSSLPKI(t)
	tests := []struct {
		name  string
		fleet func() Fleet
		want  verdicts
	}{
		{"clean fleet", func() Fleet {
			return Fleet{
				Inventory: inventory(t, p, "device-a", "device-b"), Trust: p.pool, UID: "probe-a",
				Presented: func() []DeviceCert {
					return []DeviceCert{presented(t, p, "probe-a", "device-a"), presented(t, p, "probe-b", "device-b")}
				},
			}
		}, verdicts{ctlDevChain: pass, ctlDevExpiry: pass, ctlDevKey: pass, ctlDevSignature: pass, ctlDevEKU: pass, ctlDevUnique: pass, ctlDevBinding: pass}},
		{"every fault", func() Fleet {
			return Fleet{
				Inventory: inventory(t, p, "device-a", "device-no-eku", "device-shared-key", "selfsigned", "sha1", "expired"), Trust: p.pool, UID: "probe-z",
				Presented: func() []DeviceCert { return []DeviceCert{presented(t, p, "probe-b", "device-a")} },
			}
		}, verdicts{
			ctlDevChain: fail(record.SeverityHigh), ctlDevExpiry: fail(record.SeverityCritical), ctlDevKey: fail(record.SeverityHigh),
			ctlDevSignature: fail(record.SeverityHigh), ctlDevEKU: fail(record.SeverityMedium), ctlDevUnique: fail(record.SeverityHigh),
			ctlDevBinding: fail(record.SeverityHigh),
		}},
		{"inventory only, no device CA", func() Fleet { return Fleet{Inventory: inventory(t, p, "device-a", "device-b")} }, verdicts{
			ctlDevChain: skipped, ctlDevExpiry: pass, ctlDevKey: pass, ctlDevSignature: pass, ctlDevEKU: pass, ctlDevUnique: pass, ctlDevBinding: skipped,
		}},
		{"nothing named", func() Fleet { return Fleet{} }, verdicts{
			ctlDevChain: skipped, ctlDevExpiry: skipped, ctlDevKey: skipped, ctlDevSignature: skipped, ctlDevEKU: skipped, ctlDevUnique: skipped, ctlDevBinding: skipped,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, Targets{Fleet: tc.fleet()}, "device-certs")
			assertVerdicts(t, results, tc.want)
			if tc.name == "every fault" {
				u := byControl(t, results)[ctlDevUnique].Observed
				if u["shared_keys"] != 1 {
					t.Errorf("shared keys = %v, want 1 (device-a and device-shared-key): %v", u["shared_keys"], u)
				}
			}
		})
	}
}
