package checks

import (
	"reflect"
	"testing"
)

func TestNormalizeFacts(t *testing.T) {
	got := normalizeFacts(map[string]any{
		"tls.versions":     []string{"TLS 1.3", "TLS 1.2", "TLS 1.3"},
		"tls.suites":       []string(nil),
		"broker.version":   nil,
		"http.status.none": 401,
	})
	want := map[string]any{
		"tls.versions":     []string{"TLS 1.2", "TLS 1.3"},
		"tls.suites":       []string{},
		"http.status.none": 401,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalizeFacts = %#v, want %#v", got, want)
	}
	if normalizeFacts(map[string]any{"x.y": nil}) != nil || normalizeFacts(nil) != nil {
		t.Error("no facts must normalise to nil (omitted from run.json)")
	}
}
