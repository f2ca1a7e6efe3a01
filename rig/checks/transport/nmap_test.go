package transport_test

import (
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// nmapVersions runs nmap's ssl-enum-ciphers against one loopback port and returns the accepted
// versions with their suites, in rig's version names ("TLS 1.2").
func nmapVersions(t *testing.T, addr string) map[string][]string {
	t.Helper()
	nmap := checktest.NeedBinary(t, "nmap", "nmap")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, nmap, "-n", "-Pn", "-p", checktest.Port(addr), "--script", "ssl-enum-ciphers", "-oX", "-", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	return parseNmapEnum(string(out))
}

var (
	nmapVersionTable = regexp.MustCompile(`<table key="(SSLv3|TLSv1\.[0-3])">`)
	nmapCipherName   = regexp.MustCompile(`<elem key="name">([A-Z0-9_]+)</elem>`)
)

// parseNmapEnum reads the XML output of ssl-enum-ciphers: one table per accepted version, each
// with a ciphers table of name elements.
func parseNmapEnum(xml string) map[string][]string {
	out := map[string][]string{}
	locs := nmapVersionTable.FindAllStringSubmatchIndex(xml, -1)
	for i, l := range locs {
		name := xml[l[2]:l[3]]
		name = strings.Replace(name, "TLSv", "TLS ", 1) // SSLv3 keeps its name
		end := len(xml)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		var suites []string
		for _, m := range nmapCipherName.FindAllStringSubmatch(xml[l[1]:end], -1) {
			suites = append(suites, m[1])
		}
		slices.Sort(suites)
		out[name] = suites
	}
	return out
}

// TestNmapAgreement: on the same ports, the versions TRANSPORT-TLS-LEGACY finds accepted are
// exactly the ones nmap's ssl-enum-ciphers lists, and below TLS 1.3 the suites TRANSPORT-CIPHERS
// enumerates are the ones nmap lists (nmap names TLS 1.3 suites its own way, so those are
// compared by count).
func TestNmapAgreement(t *testing.T) {
	checktest.NeedBinary(t, "nmap", "nmap")
	p := checktest.NewOpenSSLPKI(t)
	type target struct {
		name string
		addr func(t *testing.T) string
	}
	targets := []target{
		{"mosquitto exposed", func(t *testing.T) string { return checktest.StartMosquitto(t, p, "exposed").TLS }},
		{"mosquitto hardened", func(t *testing.T) string { return checktest.StartMosquitto(t, p, "hardened").TLS }},
		{"s_server TLS 1.0", func(t *testing.T) string {
			return checktest.StartSServer(t, p, "good", "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
		}},
		{"s_server TLS 1.1", func(t *testing.T) string {
			return checktest.StartSServer(t, p, "good", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
		}},
		{"s_server NULL and anonymous", func(t *testing.T) string {
			return checktest.StartSServer(t, p, "rsa1024", "-cipher", "ALL:COMPLEMENTOFALL:@SECLEVEL=0")
		}},
		{"s_server default", func(t *testing.T) string { return checktest.StartSServer(t, p, "good") }},
		{"mochi exposed", func(t *testing.T) string { return checktest.StartBroker(t, "exposed").TLS }},
		{"mochi hardened", func(t *testing.T) string { return checktest.StartBroker(t, "hardened").TLS }},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // nmap spends most of its time waiting
			addr := tc.addr(t)
			results := evaluatePeers(t, check.Targets{Broker: check.Broker{TLS: addr}}, "transport", "tls-depth")
			got := checktest.ByControl(t, results)
			legacy, ciphers := got["TRANSPORT-TLS-LEGACY"], got["TRANSPORT-CIPHERS"]
			if legacy.Status == record.StatusError || ciphers.Status == record.StatusError {
				t.Fatalf("rig could not scan: %s / %s", legacy.Reason, ciphers.Reason)
			}
			ours := map[string]bool{}
			for v, s := range legacy.Observed["versions"].(map[string]any) {
				if s == "accepted" {
					ours[v] = true
				}
			}
			theirs := nmapVersions(t, addr)
			for _, v := range []string{"SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"} {
				_, n := theirs[v]
				if ours[v] != n {
					t.Errorf("%s: rig says accepted=%v, nmap says %v", v, ours[v], n)
				}
			}
			acc := ciphers.Observed["accepted"].(map[string]any)
			extra := 0
			for v, nmapSuites := range theirs {
				rigSuites, _ := acc[v].([]string)
				if v == "TLS 1.3" {
					if len(rigSuites) != len(nmapSuites) {
						t.Errorf("%s: rig enumerated %d suites, nmap %d", v, len(rigSuites), len(nmapSuites))
					}
					continue
				}
				if nmapOnly := diff(nmapSuites, rigSuites); len(nmapOnly) > 0 {
					t.Errorf("%s: nmap found suites the rig missed: %v", v, nmapOnly)
				}
				// ssl-enum-ciphers does not report anonymous suites; whatever the rig finds beyond
				// nmap must complete a real handshake with openssl s_client.
				for _, s := range diff(rigSuites, nmapSuites) {
					confirmWithSClient(t, addr, v, s)
					extra++
				}
			}
			t.Logf("nmap and rig agree: %d versions, %d suites below TLS 1.3; the rig found %d more, each confirmed by openssl s_client", len(theirs), countBelow13(theirs), extra)
		})
	}
}

// diff returns the elements of a not in b.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func countBelow13(m map[string][]string) int {
	n := 0
	for v, s := range m {
		if v != "TLS 1.3" {
			n += len(s)
		}
	}
	return n
}

var (
	opensslNamesOnce sync.Once
	opensslNames     map[string]string // IANA name -> OpenSSL name
)

// confirmWithSClient completes one handshake with openssl s_client offering only suite under
// version, and fails the test unless the server agrees to it.
func confirmWithSClient(t *testing.T, addr, version, suite string) {
	t.Helper()
	openssl := checktest.NeedBinary(t, "openssl", "openssl")
	opensslNamesOnce.Do(func() {
		opensslNames = map[string]string{}
		out, err := exec.Command(openssl, "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").Output()
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(out), "\n") {
			if std, ossl, ok := strings.Cut(line, " - "); ok {
				opensslNames[strings.TrimSpace(std)] = strings.Fields(ossl)[0]
			}
		}
	})
	name, ok := opensslNames[suite]
	if !ok {
		t.Errorf("%s %s: found by the rig only, and OpenSSL has no name for it to confirm", version, suite)
		return
	}
	flag := map[string]string{"TLS 1.0": "-tls1", "TLS 1.1": "-tls1_1", "TLS 1.2": "-tls1_2"}[version]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, flag, "-cipher", name+":@SECLEVEL=0", "-servername", "localhost")
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "Cipher is "+name) {
		t.Errorf("%s %s (%s): found by the rig only, and openssl s_client could not negotiate it:\n%s", version, suite, name, tail(string(out), 400))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
