# Ferry's build and checks. `make check` (or `make test`) is the one command
# that runs the whole test suite; CI runs exactly the same.

# Pinned tools: the only place their versions are named. They install into
# bin/tools, so a fresh machine gets exactly these versions and nothing
# outside the repository changes.
STATICCHECK_VERSION   := v0.8.2
GOLANGCI_LINT_VERSION := v2.15.0

# Where `make serve` listens and keeps its data; override on the command
# line: make serve ADDR=127.0.0.1:9000
ADDR ?= 127.0.0.1:8080
DATA ?= ./ferry-data

TOOLS         := $(CURDIR)/bin/tools
STATICCHECK   := $(TOOLS)/staticcheck
GOLANGCI_LINT := $(TOOLS)/golangci-lint

# A stamp per tool and version: bumping a version above reinstalls that tool,
# even though the binary's name stays the same.
STATICCHECK_STAMP   := $(TOOLS)/.staticcheck-$(STATICCHECK_VERSION)
GOLANGCI_LINT_STAMP := $(TOOLS)/.golangci-lint-$(GOLANGCI_LINT_VERSION)

# How long `make fuzz` runs each fuzz target (a duration, or a count such as
# 5000x). check fuzzes briefly and by count: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out mid-run (go.dev/issue/75804, fixed in Go 1.27), which would
# make CI fail on no finding at all.
FUZZTIME ?= 10s

.PHONY: check test build serve tools fuzz

check: tools
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt:"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...
	$(STATICCHECK) ./...
	$(GOLANGCI_LINT) run ./...
	go test -race -count=1 ./...
	@echo "rollout acceptance: 2000 simulated devices, too many for a server slowed by -race"
	go test -count=1 -run Acceptance ./internal/sim/
	@echo "LZSS corpus round trip: every corpus image through the .ota and LZSS encoders, without -race"
	go test -count=1 -v -run '^TestCorpus$$' ./internal/arduino/
	$(MAKE) fuzz FUZZTIME=5000x

# Each fuzz target in turn; `go test -fuzz` takes one target at a time.
# An input that fails is saved under the package's testdata/fuzz/.
fuzz:
	go test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./internal/version
	go test -run='^$$' -fuzz='^FuzzServeImage$$' -fuzztime=$(FUZZTIME) ./internal/httpkit
	go test -run='^$$' -fuzz='^FuzzStatus$$' -fuzztime=$(FUZZTIME) ./internal/plain
	go test -run='^$$' -fuzz='^FuzzCheckIn$$' -fuzztime=$(FUZZTIME) ./internal/native
	go test -run='^$$' -fuzz='^FuzzRequest$$' -fuzztime=$(FUZZTIME) ./internal/esp
	go test -run='^$$' -fuzz='^FuzzReport$$' -fuzztime=$(FUZZTIME) ./internal/native
	go test -run='^$$' -fuzz='^FuzzFeedback$$' -fuzztime=$(FUZZTIME) ./internal/ddi
	go test -run='^$$' -fuzz='^FuzzCreateProduct$$' -fuzztime=$(FUZZTIME) ./internal/api
	go test -run='^$$' -fuzz='^FuzzCreateRollout$$' -fuzztime=$(FUZZTIME) ./internal/api
	go test -run='^$$' -fuzz='^FuzzParsePhases$$' -fuzztime=$(FUZZTIME) ./internal/core
	go test -run='^$$' -fuzz='^FuzzValidateNames$$' -fuzztime=$(FUZZTIME) ./internal/core
	go test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./manifest
	go test -run='^$$' -fuzz='^FuzzDecodePublicKey$$' -fuzztime=$(FUZZTIME) ./manifest
	go test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) ./manifest
	go test -run='^$$' -fuzz='^FuzzLZSSRoundTrip$$' -fuzztime=$(FUZZTIME) ./internal/arduino
	go test -run='^$$' -fuzz='^FuzzCheckImage$$' -fuzztime=$(FUZZTIME) ./internal/arduino

test: check

build:
	go build -o bin/ferry ./cmd/ferry

serve: build
	./bin/ferry serve --addr $(ADDR) --data $(DATA)

tools: $(STATICCHECK_STAMP) $(GOLANGCI_LINT_STAMP)

$(STATICCHECK_STAMP):
	GOBIN=$(TOOLS) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

$(GOLANGCI_LINT_STAMP):
	GOBIN=$(TOOLS) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	touch $@
