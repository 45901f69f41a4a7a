// Package clustertest holds `make test-cluster`: the cluster of
// deployments/cluster/local brought up on this machine, loaded through its
// three NATS URLs while a NATS node, a ClickHouse replica, the active
// projector and then the stream's leader are killed with SIGKILL, and
// checked exact on every replica afterwards. It has no code of its own; see
// cluster_test.go.
package clustertest
