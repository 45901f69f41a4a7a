package natsserver

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/bacgiang/cds/internal/credentials"
)

// ConfigAccount names the cds account in the configuration WriteConfig
// prints: the account of the streams, the services and the operators (the
// embedded server's global account).
const ConfigAccount = "CDS"

// WriteConfig writes the accounts block of a nats-server configuration that
// gives an operator's own nats-server (or cluster) the users and permissions
// of the embedded one (docs/operations.md, "Your own nats-server"): the
// admin and the service users in account CDS, with JetStream enabled; one
// account per agency that is not revoked, whose service import carries its
// cds.events.<agency>.> (and those of the units it reports for) into CDS,
// where CDS_EVENTS stores them and the PubAck returns only to the agency's
// own account. Passwords are the bcrypt hashes of h.
//
// Such a server has no gate (gate.go): the agencies' messages go straight
// to the stream, with no per-agency rate limit and no check at the door.
func WriteConfig(w io.Writer, h *credentials.Hashes, reportsFor map[string][]string) error {
	if h == nil || h.Admin.User == "" || h.Admin.PasswordBcrypt == "" {
		return fmt.Errorf("natsserver: config: credentials have no admin user")
	}
	for code, others := range reportsFor {
		for _, x := range append([]string{code}, others...) {
			if err := credentials.ValidateAgency(x); err != nil {
				return fmt.Errorf("natsserver: config: reports-for of %q: %w", code, err)
			}
		}
	}
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, "# cds: accounts, users and permissions for your own nats-server (cds nats config).")
	fmt.Fprintln(b, "# Passwords are bcrypt hashes; the agencies' and services' secrets are in credentials.json.")
	fmt.Fprintln(b, "# The server needs JetStream enabled (jetstream { store_dir: … }). cds's gate is not")
	fmt.Fprintln(b, "# here: no per-agency NATS rate limit and no check at the door (see docs/operations.md).")
	fmt.Fprintln(b, "accounts {")
	fmt.Fprintf(b, "  %s {\n", ConfigAccount)
	fmt.Fprintln(b, "    jetstream: enabled")
	fmt.Fprintf(b, "    exports [\n      { service: %q }\n    ]\n", EventsSubjects)
	fmt.Fprintln(b, "    users [")
	fmt.Fprintf(b, "      { user: %q, password: %q }\n", h.Admin.User, h.Admin.PasswordBcrypt)
	for _, name := range slices.Sorted(maps.Keys(h.Services)) {
		g, ok := serviceGrants[name]
		if !ok {
			return fmt.Errorf("natsserver: config: no permissions defined for service %q", name)
		}
		su := h.Services[name]
		fmt.Fprintf(b, "      { user: %q, password: %q, permissions: %s }\n", su.User, su.PasswordBcrypt, g.config(""))
	}
	fmt.Fprintln(b, "    ]")
	fmt.Fprintln(b, "  }")
	for _, code := range slices.Sorted(maps.Keys(h.Agencies)) {
		if h.IsRevoked(code) {
			continue
		}
		if err := credentials.ValidateAgency(code); err != nil {
			return fmt.Errorf("natsserver: config: %w", err)
		}
		g := agencyGrant
		var imports []string
		for _, x := range append([]string{code}, reportsFor[code]...) {
			if x != code {
				g.publish = append(slices.Clone(g.publish), strings.ReplaceAll(agencyGrant.publish[0], "{agency}", x))
			}
			imports = append(imports, fmt.Sprintf("      { service: { account: %s, subject: %q } }", ConfigAccount, "cds.events."+x+".>"))
		}
		fmt.Fprintf(b, "  %q {\n", agencyAccount(code))
		fmt.Fprintf(b, "    imports [\n%s\n    ]\n", strings.Join(imports, "\n"))
		fmt.Fprintf(b, "    users [\n      { user: %q, password: %q, permissions: %s }\n    ]\n",
			code, h.Agencies[code].NATSPasswordBcrypt, g.config(code))
		fmt.Fprintln(b, "  }")
	}
	fmt.Fprintln(b, "}")
	return b.Flush()
}

// config writes g as a nats-server permissions value.
func (g grant) config(agency string) string {
	list := func(subjects []string) string {
		q := make([]string, len(subjects))
		for i, s := range subjects {
			q[i] = fmt.Sprintf("%q", strings.ReplaceAll(s, "{agency}", agency))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprintf("{ publish: { allow: %s }, subscribe: { allow: %s } }", list(g.publish), list(g.subscribe))
}
