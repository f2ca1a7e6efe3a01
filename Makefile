# The rig: see README.md. Targets: build, demo, test, test-race, soak, bench, fuzz, firmware, dist, baseline, regress, clean.
GO      ?= go
OUT     ?= out/demo
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The build date, UTC; SOURCE_DATE_EPOCH (reproducible builds) pins it. DATE is the commit's time.
BUILD_DATE ?= $(shell date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE) -X main.buildDate=$(BUILD_DATE)

.PHONY: build demo test test-fleet test-race soak bench fuzz firmware clean baseline regress dist docs

build:
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rig ./rig/cmd/rig
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/gateway ./gateway/cmd/gateway
	$(GO) run ./tools/sbom -o bin/gateway.cdx.json ./gateway/cmd/gateway

# The audit story on the emulated rig: baseline on the exposed profile, rerun on the hardened
# profile, delta between them. No hardware, no root, no external service.
demo: build
	@rm -rf "$(OUT)/baseline" "$(OUT)/hardened" "$(OUT)/delta"
	@./bin/rig run audit-baseline --log-level warn --out "$(OUT)/baseline"
	@./bin/rig run audit-baseline --profile hardened --log-level warn --out "$(OUT)/hardened"
	@./bin/rig delta "$(OUT)/baseline" "$(OUT)/hardened" --out "$(OUT)/delta"

# The committed reference run: the hardened path under the hardening-verification bundle, and the
# record beside it (reports/baselines/hardening-verify.baseline.json) that makes it the validated
# baseline of the hardening-verify path. Rewrite it only on purpose (a new control, a deliberate
# change of posture), and review the diff. SIGN_KEY=rig-key.pem signs the record.
BASELINE ?= reports/baselines/hardening-verify
BASELINES = $(patsubst %/,%,$(dir $(BASELINE)))
BASELINE_PATH = $(notdir $(BASELINE))
baseline: build
	@rm -rf "$(BASELINE)"
	@./bin/rig run hardening-verify --log-level warn --out "$(BASELINE)"
	@./bin/rig baseline mark "$(BASELINE)" --path "$(BASELINE_PATH)" --dir "$(BASELINES)" $(if $(SIGN_KEY),--sign-key "$(SIGN_KEY)")

# Rerun the hardening verification against the path's validated baseline (the record is checked,
# then the run it names): exit 3 on any regression, 5 when the baseline does not verify.
regress: build
	@rm -rf "$(OUT)/verify"
	@./bin/rig regress --path "$(BASELINE_PATH)" --dir "$(BASELINES)" $(if $(PUB_KEY),--pub-key "$(PUB_KEY)") --log-level warn --out "$(OUT)/verify"

# The whole suite, the 1,000-device fleet run included (about 30 s of it on 2 cores; test-fleet
# runs that one alone; `go test -short ./...` skips it).
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test-fleet:
	$(GO) test -count=1 -run '^TestFleet1000$$' -v ./rig/trust

# The race detector over the packages with concurrency (CI runs it after `make test`). -short
# skips only TestFleet1000: 1,000 emulated devices under the detector's slowdown miss its 50 s
# delivery deadline on 2 cores (300 s, then a failure); the smaller trust tests cover the same code.
test-race:
	$(GO) test -race -short -count=1 ./rig/... ./gateway/...

# telemetry-trust SOAK_RUNS times beside two busy loops; fails on any lost frame or stored
# duplicate (tools/soak prints each run's TRUST-LOSS and TRUST-DUPLICATES figures). Not in `test`.
SOAK_RUNS ?= 10
SOAK_OUT  ?= out/soak
soak: build
	@rm -rf "$(SOAK_OUT)"
	$(GO) build -o bin/soak ./tools/soak
	./bin/soak -runs $(SOAK_RUNS) -burners 2 -rig bin/rig -out "$(SOAK_OUT)"

# Go benchmarks, then the rig's transport + broker-cert checks against testssl.sh and nmap on one
# mosquitto TLS port (needs mosquitto, openssl, nmap, testssl.sh: see .ci/run), then the fleet
# table: time, peak RSS and RSS per device of `rig run` at BENCH_FLEET devices.
BENCH_FLEET ?= 100,1000,10000
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./tools/bench -rig bin/rig -fleet "$(BENCH_FLEET)"

# Regenerate the generated documentation: docs/controls-reference.md from the control catalog
# (rig/checks/catalog/catalog.yaml). A test fails while the committed file differs.
docs:
	$(GO) test -count=1 -run '^TestControlsReference$$' ./rig/checks/catalog -update

# Run each fuzz target for FUZZTIME (go test -fuzz takes one target at a time). Their seed corpora
# under testdata/fuzz also run as plain tests in `make test`.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $(FUZZTIME) ./firmware/protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadConnack$$' -fuzztime $(FUZZTIME) ./rig/checks/probe/mqttprobe
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./rig/checks/probe/mqttclient
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./rig/checks/probe/obsprobe
	$(GO) test -run '^$$' -fuzz '^FuzzParseBodies$$' -fuzztime $(FUZZTIME) ./rig/checks/probe/obsprobe
	$(GO) test -run '^$$' -fuzz '^FuzzReadReply$$' -fuzztime $(FUZZTIME) ./rig/checks/probe/tlsscan
	$(GO) test -run '^$$' -fuzz '^FuzzServerKeyExchange$$' -fuzztime $(FUZZTIME) ./rig/checks/probe/tlsscan
	$(GO) test -run '^$$' -fuzz '^FuzzRelayChunks$$' -fuzztime $(FUZZTIME) ./rig/relay
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./rig/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzCReceiverAgrees$$' -fuzztime $(FUZZTIME) ./firmware/stm32/cproto
	$(GO) test -run '^$$' -fuzz '^FuzzBodies$$' -fuzztime $(FUZZTIME) ./firmware/protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDefinitionFiles$$' -fuzztime $(FUZZTIME) ./rig/scenario
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./rig/bench
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./rig/trace
	$(GO) test -run '^$$' -fuzz '^FuzzReadRun$$' -fuzztime $(FUZZTIME) ./rig/delta
	$(GO) test -run '^$$' -fuzz '^FuzzParseQMP$$' -fuzztime $(FUZZTIME) ./rig/qemu
	$(GO) test -run '^$$' -fuzz '^FuzzParseRecords$$' -fuzztime $(FUZZTIME) ./rig/ingest
	$(GO) test -run '^$$' -fuzz '^FuzzStoreValues$$' -fuzztime $(FUZZTIME) ./rig/ingest
	$(GO) test -run '^$$' -fuzz '^FuzzCanonicalBatch$$' -fuzztime $(FUZZTIME) ./rig/ingest
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCanonical$$' -fuzztime $(FUZZTIME) ./rig/telemetry
	$(GO) test -run '^$$' -fuzz '^FuzzSpoolEntry$$' -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzPacketConn$$' -fuzztime $(FUZZTIME) ./rig/broker
	$(GO) test -run '^$$' -fuzz '^FuzzSecurityTxt$$' -fuzztime $(FUZZTIME) ./rig/checks/supply
	$(GO) test -run '^$$' -fuzz '^FuzzSBOM$$' -fuzztime $(FUZZTIME) ./rig/checks/supply
	$(GO) test -run '^$$' -fuzz '^FuzzAdvisory$$' -fuzztime $(FUZZTIME) ./rig/checks/supply
	$(GO) test -run '^$$' -fuzz '^FuzzVersion$$' -fuzztime $(FUZZTIME) ./rig/checks/supply
	$(GO) test -run '^$$' -fuzz '^FuzzSupport$$' -fuzztime $(FUZZTIME) ./rig/checks/supply

# The release (docs/bench.md#deploying-to-the-pi-the-debian-package): for each of DIST_ARCHES (linux; arm64 is the Raspberry Pi 5, amd64 a
# CI host) the static binaries (CGO_ENABLED=0) rig, gateway and the hardware smoketest compiled as
# a test binary, then tools/dist (its own Go module: nfpm and cyclonedx-gomod stay out of the rig's
# module graph) writes a Debian package per architecture, a CycloneDX SBOM of each binary and
# SHA256SUMS, signed (SHA256SUMS.sig) when DIST_SIGN_KEY names an ed25519 key. CI runs it on every
# commit, then .ci/package-check installs the amd64 package.
DIST_ARCHES   ?= arm64 amd64
DIST_SIGN_KEY ?=
dist:
	@rm -rf dist && mkdir -p dist bin
	@set -e; for arch in $(DIST_ARCHES); do \
	  echo "dist: linux/$$arch"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/rig-linux-$$arch ./rig/cmd/rig; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/gateway-linux-$$arch ./gateway/cmd/gateway; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) test -c -trimpath -o dist/smoketest-linux-$$arch.test ./rig/bench/smoketest; \
	done
	cd tools/dist && $(GO) build -o ../../bin/dist .
	./bin/dist -dir dist -arches "$(DIST_ARCHES)" -sign-key "$(DIST_SIGN_KEY)"

# The STM32 reference firmware (firmware/stm32) with Debian's gcc-arm-none-eabi, and its size.
firmware:
	$(MAKE) -C firmware/stm32

clean:
	rm -rf bin out dist firmware/stm32/build
