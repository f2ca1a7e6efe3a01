package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const targetsHead = "name: ext\nbundles: [b]\ntargets:\n"

func TestTargetsLoad(t *testing.T) {
	t.Setenv("RIG_TEST_PROBE_PW", "pw-from-env")
	path := writeTree(t, targetsHead+
		"  broker:\n    plain: 127.0.0.1:1883\n    tls: 127.0.0.1:8883\n    server_name: broker.example\n"+
		"  probes:\n    - name: probe-a\n      username: a\n      password: {env: RIG_TEST_PROBE_PW}\n      topic: t/a\n"+
		"  ingest:\n    url: http://127.0.0.1:8080/v1/telemetry\n    token: {file: token.txt}\n", goodProfile)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "token.txt"), []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plan, err := Library{}.Load(path, "", known)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Profile.Name != ExternalProfile || plan.Scenario.Targets.Broker.TLS != "127.0.0.1:8883" {
		t.Errorf("profile %q, targets %+v", plan.Profile.Name, plan.Scenario.Targets.Broker)
	}
	if got := plan.Scenario.Targets.Path("token.txt"); got != filepath.Join(filepath.Dir(path), "token.txt") {
		t.Errorf("relative file resolves to %s", got)
	}
	if _, err := (Library{}).Load(path, "hardened", known); err == nil || !strings.Contains(err.Error(), "no profile applies") {
		t.Errorf("--profile with targets: err = %v", err)
	}
}

func TestTargetsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		line       int
		field, msg string
	}{
		{"inline password", "  broker:\n    plain: 127.0.0.1:1883\n  probes:\n    - name: a\n      password: hunter2\n", 8, "targets.probes[0].password", "inline secrets are refused"},
		{"inline token", "  ingest:\n    url: http://127.0.0.1:1/x\n    token: abc\n", 6, "targets.ingest.token", "inline secrets are refused"},
		{"unset env", "  ingest:\n    url: http://127.0.0.1:1/x\n    token: {env: RIG_TEST_SURELY_UNSET_VAR}\n", 6, "targets.ingest.token.env", "is not set"},
		{"missing file", "  broker:\n    tls: 127.0.0.1:8883\n    trust: nowhere.pem\n", 6, "targets.broker.trust", "cannot read"},
		{"bad address", "  broker:\n    tls: localhost\n", 5, "targets.broker.tls", "not host:port"},
		{"bad url", "  ingest:\n    url: ftp://x/y\n", 5, "targets.ingest.url", "not an http or https URL"},
		{"nothing named", "  probes: []\n", 4, "targets", "names no broker, ingest, device certificates, management endpoint, supplier evidence or observability"},
		{"token from a device", "  ingest:\n    url: http://127.0.0.1:1/x\n    token: {file: /dev/zero}\n", 6, "targets.ingest.token.file", "/dev/zero: is a character device, not a regular file: name the secret file itself"},
		{"sample from a device", "  ingest:\n    url: http://127.0.0.1:1/x\n    sample: /dev/zero\n", 6, "targets.ingest.sample", "is a character device, not a regular file"},
		{"trust is a folder", "  broker:\n    tls: 127.0.0.1:8883\n    trust: /\n", 6, "targets.broker.trust", "is a folder, not a regular file: name the PEM file itself"},
		{"oversize token file", "  ingest:\n    url: http://127.0.0.1:1/x\n    token: {file: big.token}\n", 6, "targets.ingest.token.file", "larger than the 64 KiB limit of a secret file (it holds 65537 bytes)"},
		{"cert without key", "  broker:\n    tls: 127.0.0.1:8883\n  probes:\n    - name: a\n      cert: c.pem\n", 8, "targets.probes[0].cert", "cert and key go together"},
		// Credentials in a URL would be quoted in run.json, the reports and every evidence file.
		{"password in ingest url", "  ingest:\n    url: https://user:PW-s3cret@127.0.0.1:1/x\n", 5, "targets.ingest.url", "targets.ingest.token: {file: PATH} or {env: VARIABLE}"},
		{"user name in ingest url", "  ingest:\n    url: https://user@127.0.0.1:1/x\n", 5, "targets.ingest.url", "user:password@"},
		{"token in ingest query", "  ingest:\n    url: http://127.0.0.1:1/x?device=a&token=PW-s3cret\n", 5, "targets.ingest.url", `query parameter "token"`},
		{"api key in ingest query", "  ingest:\n    url: http://127.0.0.1:1/x?API_Key=PW-s3cret\n", 5, "targets.ingest.url", `query parameter "API_Key"`},
		{"access token in ingest fragment", "  ingest:\n    url: http://127.0.0.1:1/x#access_token=PW-s3cret\n", 5, "targets.ingest.url", `fragment parameter "access_token"`},
		{"password in management url", "  management: [\"http://admin:PW-s3cret@127.0.0.1:1/\"]\n", 4, "targets.management[0]", "probed without credentials"},
		{"password in broker address", "  broker:\n    tls: user:PW-s3cret@127.0.0.1:8883\n", 5, "targets.broker.tls", "targets.probes[].password"},
		{"websocket not a ws URL", "  broker:\n    websocket: [\"https://127.0.0.1:8884/mqtt\"]\n", 5, "targets.broker.websocket[0]", "not a ws:// or wss:// URL"},
		{"websocket with a password", "  broker:\n    websocket: [\"wss://u:PW-s3cret@127.0.0.1:8884/mqtt\"]\n", 5, "targets.broker.websocket[0]", "targets.probes"},
		// Supplier evidence: shapes and files, checked before anything runs.
		{"supplier names nothing", "  supplier: {}\n", 4, "targets.supplier", "names no supplier evidence"},
		{"supplier unknown key", "  supplier:\n    sboms: x.json\n", 5, "targets.supplier.sboms", "unknown field"},
		{"security.txt not a URL", "  supplier:\n    security_txt: vendor.example/security.txt\n", 5, "targets.supplier.security_txt", "not an http or https URL"},
		{"security.txt with a token", "  supplier:\n    security_txt: https://vendor.example/.well-known/security.txt?token=PW-s3cret\n", 5, "targets.supplier.security_txt", `query parameter "token"`},
		{"trust without security.txt", "  supplier:\n    trust: ca.pem\n    sbom: sbom.json\n", 5, "targets.supplier.trust", "only checks the vendor's security.txt"},
		{"missing sbom", "  supplier:\n    sbom: nowhere.json\n", 5, "targets.supplier.sbom", "cannot read"},
		{"sbom from a device", "  supplier:\n    sbom: /dev/zero\n", 5, "targets.supplier.sbom", "is a character device, not a regular file: name the SBOM itself"},
		{"vulndb is a file", "  supplier:\n    vulndb: sbom.json\n", 5, "targets.supplier.vulndb", "is a file: name the folder of OSV JSON entries"},
		{"missing vulndb", "  supplier:\n    vulndb: osv/\n", 5, "targets.supplier.vulndb", "cannot read"},
		{"gateway_bin is a folder", "  supplier:\n    gateway_bin: /\n", 5, "targets.supplier.gateway_bin", "is a folder, not a regular file"},
		{"version not semver", "  supplier:\n    support: sbom.json\n    version: latest\n", 6, "targets.supplier.version", "not a release version"},
		// Observability: logs that exist, URLs without credentials, one kind of metrics credential.
		{"observability names nothing", "  observability: {}\n", 4, "targets.observability", "names no log, metrics or alerts endpoint"},
		{"missing broker log", "  observability:\n    broker_log: mosquitto.log\n", 5, "targets.observability.broker_log", "does not exist"},
		{"broker log is a folder", "  observability:\n    broker_log: /\n", 5, "targets.observability.broker_log", "not a regular file"},
		{"password in metrics url", "  observability:\n    metrics: [\"http://u:PW-s3cret@127.0.0.1:1/metrics\"]\n", 5, "targets.observability.metrics[0]", "metrics_user/metrics_password"},
		{"alerts not a URL", "  observability:\n    alerts: alertmanager:9093\n", 5, "targets.observability.alerts", "not an http or https URL"},
		{"inline metrics token", "  observability:\n    metrics: [\"http://127.0.0.1:1/metrics\"]\n    metrics_token: PW-s3cret\n", 6, "targets.observability.metrics_token", "inline secrets are refused"},
		{"user without password", "  observability:\n    metrics: [\"http://127.0.0.1:1/metrics\"]\n    metrics_user: prom\n", 6, "targets.observability.metrics_user", "go together"},
		{"token and basic", "  observability:\n    metrics: [\"http://127.0.0.1:1/metrics\"]\n    metrics_user: prom\n    metrics_password: {file: ca.pem}\n    metrics_token: {file: ca.pem}\n", 8, "targets.observability.metrics_token", "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTree(t, targetsHead+tc.body, goodProfile)
			big := filepath.Join(filepath.Dir(path), "big.token")
			if err := os.WriteFile(big, make([]byte, 64<<10+1), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"ca.pem", "sbom.json"} {
				if err := os.WriteFile(filepath.Join(filepath.Dir(path), name), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Library{}.Load(path, "", known)
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if fe.Line != tc.line || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %s:%d field %q: %s; want line %d field %q containing %q", filepath.Base(fe.File), fe.Line, fe.Field, fe.Msg, tc.line, tc.field, tc.msg)
			}
			if strings.Contains(err.Error(), "PW-s3cret") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	// A profile and targets together.
	path := writeTree(t, "name: ext\nprofile: p\nbundles: [b]\ntargets:\n  broker:\n    plain: 127.0.0.1:1\n", goodProfile)
	if _, err := (Library{}).Load(path, "", known); err == nil || !strings.Contains(err.Error(), "remove the profile") {
		t.Errorf("profile with targets: err = %v", err)
	}
}

// TestSupplierTargetsLoad: every supplier input resolves beside the scenario.
func TestSupplierTargetsLoad(t *testing.T) {
	path := writeTree(t, targetsHead+"  supplier:\n    security_txt: https://vendor.example/.well-known/security.txt\n    trust: ca.pem\n    vendor_key: vendor.asc\n"+
		"    sbom: gateway.cdx.json\n    vulndb: osv\n    support: support.json\n    gateway_bin: gateway\n    version: v1.4.2\n", goodProfile)
	dir := filepath.Dir(path)
	for _, name := range []string{"ca.pem", "vendor.asc", "gateway.cdx.json", "support.json", "gateway"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "osv"), 0o755); err != nil {
		t.Fatal(err)
	}
	plan, err := Library{}.Load(path, "", known)
	if err != nil {
		t.Fatal(err)
	}
	sp := plan.Scenario.Targets.Supplier
	if sp == nil || sp.Version != "v1.4.2" || plan.Scenario.Targets.Path(sp.VulnDB) != filepath.Join(dir, "osv") {
		t.Errorf("supplier targets %+v", sp)
	}
}
