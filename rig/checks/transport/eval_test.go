package transport_test

import (
	"os"
	"testing"

	"github.com/pathrig/rig/rig/checks"
	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/checktest"
	"github.com/pathrig/rig/rig/record"
)

// evaluatePeers runs the named checks through the evaluator against targets.
func evaluatePeers(t *testing.T, targets check.Targets, checkIDs ...string) []record.Result {
	t.Helper()
	return checktest.EvaluateWith(t, checks.Evaluate, targets, false, checkIDs...)
}

// TestMain removes the shared openssl PKI folder once every test of the package has run.
func TestMain(m *testing.M) {
	code := m.Run()
	checktest.Cleanup()
	os.Exit(code)
}
