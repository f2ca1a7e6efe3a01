package broker

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/pathrig/rig/rig/pki"
	"github.com/pathrig/rig/rig/telemetry"
)

const (
	gwA  = "gateway-a"
	devC = "0123456789abcdef00000003"
)

func TestGatewayAllowed(t *testing.T) {
	p := telemetry.TopicPrefix
	g := &guard{prefix: p, deviceACL: true, gateways: gatewaySets(map[string][]string{gwA: {devA, devB}})}
	tests := []struct {
		name, id, topic string
		write           bool
		want            bool
	}{
		{"own device's telemetry", gwA, p + "/" + devA + "/telemetry", true, true},
		{"second own device", gwA, p + "/" + devB + "/telemetry", true, true},
		{"a device not its own", gwA, p + "/" + devC + "/telemetry", true, false},
		{"its own name is no device", gwA, p + "/" + gwA + "/telemetry", true, false},
		{"wildcard over devices", gwA, p + "/+/telemetry", true, false},
		{"wildcard publish under a device", gwA, p + "/" + devA + "/#", true, false},
		{"subscribe to an own device's commands", gwA, p + "/" + devA + "/cmd/#", false, true},
		{"subscribe to all devices", gwA, p + "/#", false, false},
		{"outside the prefix", gwA, "other/" + devA + "/telemetry", true, false},
		{"device rules unchanged", devA, p + "/" + devA + "/telemetry", true, true},
		{"a device cannot use the gateway's devices", devA, p + "/" + devB + "/telemetry", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.allowed(tc.id, tc.topic, tc.write); got != tc.want {
				t.Errorf("allowed(%q, %q, write=%v) = %v, want %v", tc.id, tc.topic, tc.write, got, tc.want)
			}
		})
	}
}

func TestGatewayConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		gws  map[string][]string
		want string
	}{
		{"pattern identity", map[string][]string{"gw/+": {devA}}, "topic character"},
		{"no devices", map[string][]string{gwA: nil}, "has no devices"},
		{"pattern device", map[string][]string{gwA: {"#"}}, "topic character"},
		{"gateway is a device", map[string][]string{gwA: {devA}, devA: {devB}}, "is also a device"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateGateways(tc.gws)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validateGateways = %v, want an error with %q", err, tc.want)
			}
		})
	}
	if err := validateGateways(map[string][]string{gwA: {devA, devB}}); err != nil {
		t.Errorf("a valid mapping: %v", err)
	}
}

// TestGatewaySessionPublishACL: over mTLS with its own certificate and password, a gateway
// identity's one session publishes for each of its devices, and the broker disconnects it for a
// device that is not its own.
func TestGatewaySessionPublishACL(t *testing.T) {
	f := newFixture(t)
	cfg := f.hardened(t)
	cfg.Users[gwA] = "pw-gw"
	cfg.Gateways = map[string][]string{gwA: {devA, devB}}
	b := start(t, cfg)
	cert, err := f.pki.IssueClient(gwA, pki.ClientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	gw := mustConnect(t, dial{url: "ssl://" + b.TLSAddr(), id: gwA, user: gwA, pass: "pw-gw",
		tls: &tls.Config{RootCAs: f.pki.CAPool(), Certificates: []tls.Certificate{cert.Cert}}})
	in := subscribeInline(t, b, "rig/devices/+/telemetry")
	for _, dev := range []string{devA, devB} {
		topic := telemetry.Topic(telemetry.TopicPrefix, dev)
		publish(t, gw, topic, 1, []byte(`{}`))
		in.waitFor(t, topic)
	}
	foreign := telemetry.Topic(telemetry.TopicPrefix, devC)
	gw.Publish(foreign, 1, false, []byte(`{}`))
	waitLost(t, gw, "QoS 1 publish to a device that is not the gateway's")
	for _, topic := range in.topics() {
		if topic == foreign {
			t.Fatalf("inline handler received %q, want it refused", foreign)
		}
	}
	if got := b.Stats().ACLDenials; got != 1 {
		t.Errorf("ACLDenials = %d, want 1", got)
	}
}
