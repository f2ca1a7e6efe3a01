# The rig: see README.md. Targets: build, demo, test, bench, fuzz, clean.
GO      ?= go
OUT     ?= out/demo
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build demo test bench fuzz clean

build:
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rig ./rig/cmd/rig
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/gateway ./gateway/cmd/gateway

# The audit story on the emulated rig: baseline on the exposed profile, rerun on the hardened
# profile, delta between them. No hardware, no root, no external service.
demo: build
	@rm -rf "$(OUT)/baseline" "$(OUT)/hardened" "$(OUT)/delta"
	@./bin/rig run audit-baseline --log-level warn --out "$(OUT)/baseline"
	@./bin/rig run audit-baseline --profile hardened --log-level warn --out "$(OUT)/hardened"
	@./bin/rig delta "$(OUT)/baseline" "$(OUT)/hardened" --out "$(OUT)/delta"

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Go benchmarks, then the rig's transport + broker-cert checks against testssl.sh and nmap on one
# mosquitto TLS port (needs mosquitto, openssl, nmap, testssl.sh: see .ci/run).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./tools/bench

# Run each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $(FUZZTIME) ./firmware/protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadReply$$' -fuzztime $(FUZZTIME) ./rig/checks/tlsscan

clean:
	rm -rf bin out
