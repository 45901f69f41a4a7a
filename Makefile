# cds — two commands: `make demo` and `make test`. See README.md.
GO    ?= go
BIN   := bin/cds
DATA  ?= .data
# Simulated time per real second in the demo: a week, so that 2025 (the
# milestone) arrives after about 3.5 minutes. DEMO_SPEED=24h is cds's default pace.
DEMO_SPEED ?= 168h
# staticcheck, pinned; a version that knows Go 1.26.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: demo test test-faults test-cluster bench build deps vet clean

## deps: install clickhouse-server, clickhouse-client and chromium (Debian) when missing
deps:
	@./scripts/ensure-deps.sh

## build: the cds binary in bin/
build:
	$(GO) build -o $(BIN) ./cmd/cds

## demo: install what is missing, build, run everything with the simulated province
demo: deps build
	@echo "cds demo: the board (open in a browser) will be at http://$${CDS_HTTP_ADDR:-127.0.0.1:8080}/ once everything has started"
	./$(BIN) up --simulate --sim-speed $(DEMO_SPEED) --data $(DATA)

## test: install what is missing, vet and staticcheck, run every test (real NATS and ClickHouse);
## 30 minutes per package, not go test's 10: the projector's tests near 10 on a loaded machine
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...

## test-faults: the long fault-injection tests: the projector process killed with SIGKILL
## 12 times under 210k messages, then checked exact; two projectors (active and standby),
## the active one killed 8 times; rebuild at that scale (about 3-5 min)
test-faults: deps
	CDS_FAULTS=1 $(GO) test -count=1 -run '^TestFault' -timeout 30m -v ./internal/faults/

## test-cluster: the local cluster (deployments/cluster/local) brought up on the fixed
## ports of docs/cluster.md, two loads of 100k events through its three NATS URLs while
## a NATS node, a ClickHouse replica, the active projector and then the stream leader
## are killed with SIGKILL; every replica checked exact; the cluster brought down
test-cluster: deps build
	CDS_CLUSTER=1 $(GO) test -count=1 -run '^TestCluster$$' -timeout 40m -v ./internal/clustertest/

## bench: measure publish, raw read, projector drain and rebuild rates
bench: deps build
	./$(BIN) bench

## vet: go vet and staticcheck
vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
