// Package faults holds the process-level and fault-injection tests of cds:
// the cds binary run as a separate process, killed with SIGKILL at random
// points and stopped with SIGTERM, against a real NATS JetStream and a real
// clickhouse-server. It has no code of its own; see the _test.go files and
// `make test-faults`.
package faults
