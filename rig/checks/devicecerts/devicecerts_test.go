package devicecerts_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/checks/devicecerts"
	"github.com/pathrig/rig/rig/record"
)

// inventory copies the named openssl-made certificate cases (and their keys, which the loader
// must ignore) into a fresh folder and loads it.
func inventory(t *testing.T, p *checktest.OpenSSLPKI, names ...string) []check.DeviceCert {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		for _, f := range []string{p.Cert(n), p.Key(n)} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	inv, err := devicecerts.LoadInventory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != len(names) {
		t.Fatalf("loaded %d certificates from %d files", len(inv), len(names))
	}
	return inv
}

func presented(t *testing.T, p *checktest.OpenSSLPKI, clientID, cert string) check.DeviceCert {
	return check.DeviceCert{Source: "presented:tls", ClientID: clientID, Cert: p.TLSCert(t, cert).Leaf}
}

// TestDeviceCerts judges fleets made with the openssl CLI: a clean one, and one with every fault
// (self-signed RSA-1024, SHA-1, expired, no clientAuth EKU, two devices sharing one key, a client
// presenting another device's certificate).
func TestDeviceCerts(t *testing.T) {
	p := checktest.NewOpenSSLPKI(t)
	tests := []struct {
		name  string
		fleet func() check.Fleet
		want  checktest.Verdicts
	}{
		{"clean fleet", func() check.Fleet {
			return check.Fleet{
				Inventory: inventory(t, p, "device-a", "device-b"), Trust: p.Pool, UID: "probe-a",
				Presented: func() []check.DeviceCert {
					return []check.DeviceCert{presented(t, p, "probe-a", "device-a"), presented(t, p, "probe-b", "device-b")}
				},
			}
		}, checktest.Verdicts{"DEVCERT-CHAIN": checktest.Pass, "DEVCERT-EXPIRY": checktest.Pass, "DEVCERT-KEY": checktest.Pass, "DEVCERT-SIGNATURE": checktest.Pass, "DEVCERT-EKU": checktest.Pass, "DEVCERT-UNIQUE": checktest.Pass, "DEVCERT-BINDING": checktest.Pass}},
		{"every fault", func() check.Fleet {
			return check.Fleet{
				Inventory: inventory(t, p, "device-a", "device-no-eku", "device-shared-key", "selfsigned", "sha1", "expired"), Trust: p.Pool, UID: "probe-z",
				Presented: func() []check.DeviceCert { return []check.DeviceCert{presented(t, p, "probe-b", "device-a")} },
			}
		}, checktest.Verdicts{
			"DEVCERT-CHAIN": checktest.Fail(record.SeverityHigh), "DEVCERT-EXPIRY": checktest.Fail(record.SeverityCritical), "DEVCERT-KEY": checktest.Fail(record.SeverityHigh),
			"DEVCERT-SIGNATURE": checktest.Fail(record.SeverityHigh), "DEVCERT-EKU": checktest.Fail(record.SeverityMedium), "DEVCERT-UNIQUE": checktest.Fail(record.SeverityHigh),
			"DEVCERT-BINDING": checktest.Fail(record.SeverityHigh),
		}},
		{"inventory only, no device CA", func() check.Fleet { return check.Fleet{Inventory: inventory(t, p, "device-a", "device-b")} }, checktest.Verdicts{
			"DEVCERT-CHAIN": checktest.Skipped, "DEVCERT-EXPIRY": checktest.Pass, "DEVCERT-KEY": checktest.Pass, "DEVCERT-SIGNATURE": checktest.Pass, "DEVCERT-EKU": checktest.Pass, "DEVCERT-UNIQUE": checktest.Pass, "DEVCERT-BINDING": checktest.Skipped,
		}},
		{"nothing named", func() check.Fleet { return check.Fleet{} }, checktest.Verdicts{
			"DEVCERT-CHAIN": checktest.Skipped, "DEVCERT-EXPIRY": checktest.Skipped, "DEVCERT-KEY": checktest.Skipped, "DEVCERT-SIGNATURE": checktest.Skipped, "DEVCERT-EKU": checktest.Skipped, "DEVCERT-UNIQUE": checktest.Skipped, "DEVCERT-BINDING": checktest.Skipped,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results := evaluatePeers(t, check.Targets{Fleet: tc.fleet()}, "device-certs")
			checktest.AssertVerdicts(t, results, tc.want)
			if tc.name == "every fault" {
				u := checktest.ByControl(t, results)["DEVCERT-UNIQUE"].Observed
				if u["shared_keys"] != 1 {
					t.Errorf("shared keys = %v, want 1 (device-a and device-shared-key): %v", u["shared_keys"], u)
				}
			}
		})
	}
}
