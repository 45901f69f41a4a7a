package natsserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Every agency is a NATS account of its own (docs/security.md, "The gate"). Its user publishes cds.events.<agency>.> in that account; a
// service import carries each message to the cds account (the global
// account $G, where the streams, the services and the operators are) on
// cds.ingress.<node>.<sender>.<agency>.>, where the gate (gate.go) applies
// the agency's limit and republishes it on cds.events.<agency>.>. <node> is
// a token each server makes at start: in a cluster every node's imports
// lead to its own gate, so each message passes exactly one gate, the one of
// the node its publisher is connected to.
//
// The reply subject an agency sets lives in its own account: nats-server
// replaces it with a one-time _R_ subject of the cds account that leads back
// only there. So a PubAck can no longer be steered into another agency's
// subjects, the dead-letter stream or another agency's inbox; at most into
// the agency's own subjects, where its own limit applies.

// IngressPrefix starts the subjects on which agencies' messages reach the
// cds account: cds.ingress.<node>.<sender>.<agency>.<type>. No user of the cds
// account may publish there; only the service imports of the agency
// accounts lead there.
const IngressPrefix = "cds.ingress."

// ingressExport is the service the cds account exports to agency accounts.
const ingressExport = IngressPrefix + ">"

// responseThreshold is how long the cds account keeps the route back to an
// agency's reply subject when no answer comes (nats-server's default is two
// minutes): a message the gate dropped would otherwise hold one for that long.
const responseThreshold = 10 * time.Second

// agencyAccount names the NATS account of an agency.
func agencyAccount(code string) string { return "AGENCY_" + code }

// cdsAccount returns a fresh definition of the global account $G with
// JetStream enabled and the ingress service exported. nats-server exposes
// an account's JetStream switch only through its configuration parser, so
// the account is parsed from a line of configuration, then named $G (a name
// the parser reserves); configureAccounts then applies it to the real
// global account, on start and on every reload.
func cdsAccount() (*server.Account, error) {
	var o server.Options
	if err := o.ProcessConfigString("accounts { CDS: { jetstream: enabled } }"); err != nil {
		return nil, fmt.Errorf("natsserver: cds account: %w", err)
	}
	if len(o.Accounts) != 1 {
		return nil, fmt.Errorf("natsserver: cds account: parsed %d accounts", len(o.Accounts))
	}
	acc := o.Accounts[0]
	acc.Name = server.DEFAULT_GLOBAL_ACCOUNT
	if err := acc.AddServiceExport(ingressExport, nil); err != nil {
		return nil, fmt.Errorf("natsserver: export %s: %w", ingressExport, err)
	}
	if err := acc.SetServiceExportResponseThreshold(ingressExport, responseThreshold); err != nil {
		return nil, fmt.Errorf("natsserver: export %s: %w", ingressExport, err)
	}
	return acc, nil
}

// newAgencyAccount returns the account of agency code, whose user publishes
// for code and for the agencies of others (aggregating units). Its
// messages reach the cds account under code as the sender, on the ingress
// subjects of node.
func newAgencyAccount(cds *server.Account, node, code string, others []string) (*server.Account, error) {
	acc := server.NewAccount(agencyAccount(code))
	return acc, addImports(acc, cds, node, code, others)
}

func addImports(acc, cds *server.Account, node, code string, others []string) error {
	for _, x := range append([]string{code}, others...) {
		from := "cds.events." + x + ".>"
		if err := acc.AddServiceImport(cds, from, ingressSubject(node, code, x)+".>"); err != nil {
			return fmt.Errorf("natsserver: account of %s: import %s: %w", code, from, err)
		}
	}
	return nil
}

// registerNewAccounts creates in the running server the accounts of the
// agencies that have none yet, with their imports. A reload applies the
// imports of the accounts it finds, but starts no import of an account it
// creates (nats-server 2.15, configureAccounts), so an agency added while
// the server runs would publish into nothing.
func registerNewAccounts(ns *server.Server, node string, codes []string, reportsFor map[string][]string) error {
	for _, code := range codes {
		name := agencyAccount(code)
		if _, err := ns.LookupAccount(name); err == nil {
			continue
		}
		acc, err := ns.RegisterAccount(name)
		if err != nil {
			return fmt.Errorf("natsserver: account of %s: %w", code, err)
		}
		if err := addImports(acc, ns.GlobalAccount(), node, code, reportsFor[code]); err != nil {
			return err
		}
	}
	return nil
}

// ingressSubject is the prefix of the messages sender publishes for agency
// through node, as they reach the cds account.
func ingressSubject(node, sender, agency string) string {
	return IngressPrefix + node + "." + sender + "." + agency
}

// parseIngress splits cds.ingress.<node>.<sender>.<agency>.<type> into the
// sender and the event subject cds.events.<agency>.<type>.
func parseIngress(subject string) (sender, eventSubject string, ok bool) {
	rest, ok := strings.CutPrefix(subject, IngressPrefix)
	if !ok {
		return "", "", false
	}
	node, rest, ok := strings.Cut(rest, ".")
	if !ok || node == "" {
		return "", "", false
	}
	sender, rest, ok = strings.Cut(rest, ".")
	if !ok || sender == "" || rest == "" {
		return "", "", false
	}
	return sender, "cds.events." + rest, true
}
